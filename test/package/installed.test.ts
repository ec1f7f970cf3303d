// The package installed from its tarball in a fresh project, without the optional peers: the bench bin's
// --help works and speaks of `npx performer-bench`; timing without `benchmark` and --peers without the peer
// libraries say what to install; performer-wasm/tfjs without TensorFlow.js says what to install; CommonJS
// require() of the package where Node has require(esm).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { installedProject } from '../support/packed.ts';

let bare = '';
let withBenchmark = '';
test.before(() => {
  bare = installedProject();
  withBenchmark = installedProject(['benchmark', 'lodash', 'platform']);
});

function node(cwd: string, args: string[]) {
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: r.stdout, err: r.stderr };
}
const cli = (project: string) => join(project, 'node_modules', 'performer-wasm', 'dist', 'bench', 'cli.js');

test('npx performer-bench --help works without the benchmark package and speaks of npx performer-bench', () => {
  const r = node(bare, [cli(bare), '--help']);
  assert.is(r.status, 0, r.err);
  assert.match(r.out, /Usage: npx performer-bench/);
  assert.match(r.out, /npm install benchmark/);
  for (const internal of ['npm run bench', 'tsx', 'assembly/']) assert.not.ok(r.out.includes(internal), `--help mentions ${internal}`);
});

test('timing without the benchmark package says how to install it', () => {
  const r = node(bare, [cli(bare), 'gemm']);
  assert.is(r.status, 2);
  assert.match(r.err, /npm install benchmark/);
});

test('--peers without the peer libraries names the packages to install, and prints no empty table', () => {
  const r = node(withBenchmark, [cli(withBenchmark), 'favor', '--seq', '16', '--heads', '1', '--dim', '8', '--features', '8', '--time', '0', '--peers']);
  assert.is(r.status, 2, r.err);
  assert.match(r.err, /npm install @tensorflow\/tfjs-core@4 @tensorflow\/tfjs-backend-wasm@4 onnxruntime-web onnxruntime-node ruvector-attention-wasm/);
  assert.not.match(r.out, /Peers:/);
});

test('require(\'performer-wasm\') from CommonJS where Node has require(esm) by default (20.19+, 22.12+), as the README says', () => {
  const [major, minor] = process.versions.node.split('.').map(Number);
  const requireEsm = (major === 20 && minor >= 19) || (major === 22 && minor >= 12) || major === 23 || major >= 24;
  const r = node(bare, ['--input-type=commonjs', '-e', "const p = require('performer-wasm'); p.initSync(); console.log(String(p.runtimeInfo().threads))"]);
  if (requireEsm) {
    assert.is(r.status, 0, r.err);
    assert.is(r.out.trim(), '1');
  } else {
    assert.is.not(r.status, 0, `Node ${process.versions.node} has no require(esm): the README says so`);
  }
});

test('performer-wasm/tfjs without TensorFlow.js says to install @tensorflow/tfjs', () => {
  const r = node(bare, ['--input-type=module', '-e', "import('performer-wasm/tfjs').catch((e) => { console.error(e.message); process.exit(3); })"]);
  assert.is(r.status, 3, r.err);
  assert.match(r.err, /performer-wasm\/tfjs needs TensorFlow\.js: npm install @tensorflow\/tfjs/);
});

test('performer-wasm/tfjs loads its ops when TensorFlow.js is installed', () => {
  const project = installedProject(['@tensorflow']);
  const r = node(project, ['--input-type=module', '-e', "const m = await import('performer-wasm/tfjs'); console.log(typeof m.favorAttention, typeof m.exactAttention)"]);
  assert.is(r.status, 0, r.err);
  assert.is(r.out.trim(), 'function function');
});

test.run();
