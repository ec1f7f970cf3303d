// The published package: what `npm pack` puts in it, its exports, no runtime dependencies, the size of
// the wasm builds, and the edge entry (workerd / edge-light) matching the default one.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { baselineWasmBase64, relaxedWasmBase64 } from '../../src/generated/wasm-inline.ts';
import { assertBuilt, ROOT } from './runtimes/harness.ts';

interface PackedFile { path: string; size: number }
interface Manifest {
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  bin?: Record<string, string>;
  bundleDependencies?: unknown;
  exports: Record<string, string | Record<string, string>>;
  main: string;
  types: string;
  sideEffects: string[];
}

const WASM_LIMIT = 64 * 1024;
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest;
let files: PackedFile[] = [];

test.before(() => {
  assertBuilt();
  // --ignore-scripts: no `prepare` (which would rebuild the wasm); npm test has just built everything
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const out = execFileSync(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  files = (JSON.parse(out) as { files: PackedFile[] }[])[0]!.files;
});

const paths = () => files.map((f) => f.path);

test('the tarball holds dist (JS, types, both wasm builds), README and package.json, and nothing else', () => {
  const allowed = [/^package\.json$/, /^README\.md$/, /^LICENSE(\.md)?$/, /^dist\/[\w./-]+\.(js|d\.ts)$/, /^dist\/performer(-relaxed)?\.wasm$/];
  const stray = paths().filter((p) => !allowed.some((re) => re.test(p)));
  assert.equal(stray, [], `unexpected files in the package: ${stray.join(', ')}`);
  for (const dir of ['src/', 'test/', 'bench/', 'assembly/', 'scripts/', 'demo/', 'docs/', 'build/']) {
    assert.not.ok(paths().some((p) => p.startsWith(dir)), `${dir} must not be published`);
  }
  for (const required of ['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/runtime/inline-source.js',
    'dist/generated/wasm-inline.js', 'dist/index-edge.js', 'dist/index-edge.d.ts', 'dist/runtime/edge-source.js', 'dist/runtime/wasm.js', 'dist/runtime/load.js',
    'dist/threads/index.js', 'dist/threads/index.d.ts', 'dist/threads/pool-worker.js', 'dist/generated/wasm-threads-inline.js',
    'dist/performer.wasm', 'dist/performer-relaxed.wasm']) {
    assert.ok(paths().includes(required), `${required} is missing from the package`);
  }
  // every emitted module comes with its declaration
  for (const js of paths().filter((p) => p.endsWith('.js'))) assert.ok(paths().includes(js.replace(/\.js$/, '.d.ts')), `${js} has no .d.ts`);
});

test('zero runtime dependencies: three optional peers, for the tfjs op and layer and for the bench CLI only', () => {
  assert.equal(Object.keys(pkg.dependencies ?? {}), [], 'dependencies');
  assert.equal(Object.keys(pkg.peerDependencies ?? {}).sort(), ['@tensorflow/tfjs-core', '@tensorflow/tfjs-layers', 'benchmark'], 'peerDependencies');
  for (const peer of Object.keys(pkg.peerDependencies ?? {})) assert.equal(pkg.peerDependenciesMeta?.[peer], { optional: true }, `${peer} is optional`);
  assert.is(pkg.bundleDependencies, undefined);
  // the library proper imports neither: only the tfjs subpath and the bench CLI do
  const library = paths().filter((p) => p.endsWith('.js') && !p.startsWith('dist/bench/'));
  const importers = (name: string) => library.filter((p) => readFileSync(join(ROOT, p), 'utf8').includes(`'${name}'`));
  // tfjs-node.js: the `node` condition, which checks first that tfjs is installed; tfjs-layers*: the layer's subpath
  assert.equal(importers('@tensorflow/tfjs-core').filter((p) => !p.startsWith('dist/tfjs-layers')), ['dist/tfjs-node.js', 'dist/tfjs.js']);
  assert.equal(importers('@tensorflow/tfjs-layers').filter((p) => !p.startsWith('dist/tfjs-layers')), []);
  assert.equal(importers('benchmark'), []);
});

test('the bin performer-bench runs from the package', () => {
  assert.equal(pkg.bin, { 'performer-bench': './dist/bench/cli.js' });
  assert.ok(paths().includes('dist/bench/cli.js'));
  assert.ok(readFileSync(join(ROOT, 'dist/bench/cli.js'), 'utf8').startsWith('#!/usr/bin/env node'));
  const help = execFileSync(process.execPath, [join(ROOT, 'dist/bench/cli.js'), '--help'], { encoding: 'utf8' });
  assert.match(help, /Modes:/);
});

test('each threaded build is at most 64 KiB too', () => {
  for (const name of ['build/performer-threads.wasm', 'build/performer-relaxed-threads.wasm']) {
    assert.ok(readFileSync(join(ROOT, name)).length <= WASM_LIMIT, name);
  }
});

test('each wasm build is at most 64 KiB', () => {
  for (const name of ['dist/performer.wasm', 'dist/performer-relaxed.wasm']) {
    const file = files.find((f) => f.path === name)!;
    assert.ok(file.size > 1000 && file.size <= WASM_LIMIT, `${name}: ${file.size} bytes (limit ${WASM_LIMIT})`);
  }
});

test('exports: workerd and edge-light → the edge entry, default → the inlined entry, ./performer.wasm; all published', () => {
  const main = pkg.exports['.'] as Record<string, string>;
  assert.equal(Object.keys(main), ['types', 'workerd', 'edge-light', 'default'], 'condition order (types first, default last)');
  assert.is(main.workerd, './dist/index-edge.js');
  assert.is(main['edge-light'], './dist/index-edge.js');
  assert.is(main.default, './dist/index.js');
  for (const wasm of ['performer.wasm', 'performer-relaxed.wasm']) {
    assert.equal(pkg.exports[`./${wasm}`], { types: `./dist/${wasm}.d.ts`, default: `./dist/${wasm}` }, `./${wasm}: the file, with its declaration`);
  }
  const targets = [pkg.main, pkg.types, ...Object.values(main),
    ...Object.values(pkg.exports).flatMap((t) => (typeof t === 'string' ? [t] : Object.values(t)))];
  for (const target of targets) assert.ok(paths().includes(target.replace(/^\.\//, '')), `${target} is exported but not published`);
  for (const file of pkg.sideEffects) assert.ok(paths().includes(file.replace(/^\.\//, '')), `sideEffects: ${file} is not published`);
  // the edge entry imports the wasm files as modules, relative to itself (dist/runtime/ → dist/)
  const edge = readFileSync(join(ROOT, 'dist/runtime/edge-source.js'), 'utf8');
  assert.match(edge, /from '\.\.\/performer\.wasm'/);
  assert.match(edge, /from '\.\.\/performer-relaxed\.wasm'/);
});

test('exports: the opt-in thread pool (./threads) and its worker (./pool-worker, a second entry point for esbuild apps)', () => {
  assert.equal(pkg.exports['./threads'], { types: './dist/threads/index.d.ts', default: './dist/threads/index.js' });
  assert.is(pkg.exports['./pool-worker'], './dist/threads/pool-worker.js');
  for (const target of ['dist/threads/index.js', 'dist/threads/index.d.ts', 'dist/threads/pool-worker.js']) {
    assert.ok(paths().includes(target), `${target} is exported but not published`);
  }
  // both register or start something on import: bundlers must keep them
  for (const entry of ['./dist/threads/index.js', './dist/threads/pool-worker.js']) assert.ok(pkg.sideEffects.includes(entry), `sideEffects: ${entry}`);
  // the core entries reach the pool's code only through the registry (type imports vanish from the JS)
  for (const core of ['dist/index.js', 'dist/runtime/wasm.js', 'dist/runtime/load.js', 'dist/favor/attention.js', 'dist/exact/exact.js', 'dist/runtime/inline-source.js']) {
    assert.not.match(readFileSync(join(ROOT, core), 'utf8'), /(from|import)\s*\(?\s*['"][^'"]*(\/threads\/|wasm-threads-inline)/, `${core} imports the thread pool`);
  }
});

test('the edge entry exports exactly what the default entry exports', () => {
  const exportsOf = (file: string) => readFileSync(join(ROOT, file), 'utf8').split('\n').filter((line) => line.startsWith('export ')).sort();
  const sync = 'both entries must export exactly src/api.ts';
  assert.equal(exportsOf('src/index-edge.ts'), exportsOf('src/index.ts'), sync);
  assert.equal(exportsOf('dist/index-edge.d.ts'), exportsOf('dist/index.d.ts'), `${sync} (then npm run build)`);
});

test('the shipped .wasm files are the builds that are inlined', () => {
  const inlined = { 'dist/performer.wasm': baselineWasmBase64, 'dist/performer-relaxed.wasm': relaxedWasmBase64 };
  for (const [file, base64] of Object.entries(inlined)) {
    assert.ok(readFileSync(join(ROOT, file)).equals(Buffer.from(base64, 'base64')), `${file} differs from the inlined build (run npm run build)`);
  }
});

test.run();
