// The runtime matrix: test/package/runtimes/smoke.js (baseline build, integer-generated inputs, every kernel,
// bidirectional, masked and causal, exact attention, a decoder with a saved state) runs on the built
// package in Node, headless Chromium (a page and a module Web Worker), Deno, Bun and workerd, and every
// runtime must return the checksum that Node returns: the outputs are bit-identical everywhere.
// Node, Deno and Bun import 'performer-wasm' by name (the package resolves itself through its exports);
// Chromium through an import map (and, in the worker, the same mapping applied by the server); workerd
// through the `workerd` export condition, the entry that imports the .wasm files as modules.
// Locally a runtime that is missing is skipped with a note; in CI (CI=true) it fails.
import { spawn, spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startStaticServer, type StaticServer } from '../../scripts/serve.ts';
import { assertBuilt, findBinary, freePort, launchChromium, orSkip, ROOT } from './runtimes/harness.ts';
import type { SmokeResult } from './runtimes/smoke.js';
import { resolveExport, writeWorkerdConfig } from './runtimes/workerd/config.ts';

let reference: SmokeResult;
let started = 0;

test.before(() => {
  started = Date.now();
});

function report(name: string, version: string, result: SmokeResult, ms: number): void {
  version = version.replace(/^(deno \S+) .*/, '$1').replace(/^(\d[\w.-]*)$/, `${name} $1`); // `deno --version`, `bun --version`
  console.log(`    ${name.padEnd(24)} ${version.padEnd(34)} ${result.checksum}  (${(ms / 1000).toFixed(1)} s)`);
}

function sameAsNode(name: string, result: SmokeResult | { error: string }): void {
  if ('error' in result) assert.unreachable(`${name}: ${result.error}`);
  const got = result as SmokeResult;
  const differing = Object.keys(reference.parts).filter((part) => got.parts[part] !== reference.parts[part]);
  assert.equal(differing, [], `${name}: outputs differ from Node's in ${differing.join(', ')}`);
  assert.is(got.checksum, reference.checksum, `${name}: checksum`);
}

function parseJsonLine(name: string, stdout: string, stderr: string): SmokeResult {
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as SmokeResult;
  } catch {
    throw new Error(`${name} printed no result:\n${stdout}\n${stderr}`);
  }
}

test('node: the package entry resolves to the inlined build; the smoke runs', async () => {
  assertBuilt();
  assert.is(resolveExport('default'), './dist/index.js');
  const t0 = Date.now();
  const { runSmoke } = await import('./runtimes/smoke.js');
  reference = await runSmoke();
  assert.is(reference.count, 41);
  assert.match(reference.checksum, /^[0-9a-f]{8}$/);
  report('node', `node ${process.version}`, reference, Date.now() - t0);
});

for (const name of ['deno', 'bun'] as const) {
  test(`${name}: same checksum as node`, async () => {
    await orSkip(name, async () => {
      const binary = findBinary(name);
      const t0 = Date.now();
      const args = name === 'deno' ? ['run', '--no-lock', '--no-prompt', 'test/package/runtimes/cli.js'] : ['test/package/runtimes/cli.js'];
      const run = spawnSync(binary.path, args, { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } });
      assert.is(run.status, 0, `${name} exited with ${run.status}: ${run.stderr}`);
      const result = parseJsonLine(name, run.stdout, run.stderr);
      report(name, binary.version, result, Date.now() - t0);
      sameAsNode(name, result);
    });
  });
}

test('chromium: same checksum as node, on the page and in a module Web Worker', async () => {
  await orSkip('chromium', async () => {
    const t0 = Date.now();
    const browser = await launchChromium();
    let server: StaticServer | undefined;
    try {
      server = await startStaticServer({ root: ROOT, bareImports: { 'performer-wasm': '/dist/index.js' } });
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(`${server.origin}/test/package/runtimes/browser/`);
      await page.waitForSelector('body[data-done]', { timeout: 120_000 }).catch(() => {
        throw new Error(`the smoke page did not finish: ${errors.join('; ')}`);
      });
      const results = await page.evaluate(() => (window as unknown as { smokeResults: Record<'main' | 'worker', SmokeResult | { error: string }> & { initSyncOnPage: string } }).smokeResults);
      assert.is(results.initSyncOnPage, 'baseline', 'initSync() on the page\'s main thread'); // the README's claim
      const ms = Date.now() - t0;
      for (const where of ['main', 'worker'] as const) {
        const result = results[where];
        if (!('error' in result)) report(`chromium (${where === 'main' ? 'page' : 'worker'})`, `Chromium ${browser.version()}`, result, ms);
        sameAsNode(`chromium ${where}`, result);
      }
      assert.match((results.worker as SmokeResult).runtime, /\(worker\)$/);
    } finally {
      await browser.close();
      await server?.close();
    }
  });
});

test('workerd: the `workerd` condition loads the .wasm modules; same checksum as node', async () => {
  await orSkip('workerd', async () => {
    const binary = findBinary('workerd');
    assert.is(resolveExport('workerd'), './dist/index-edge.js');
    const t0 = Date.now();
    const port = await freePort();
    const config = writeWorkerdConfig(port);
    const child = spawn(binary.path, ['serve', config], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    let exited = false;
    child.once('exit', () => (exited = true));
    try {
      let response: Response | undefined;
      for (const deadline = Date.now() + 60_000; !response && Date.now() < deadline && !exited;) {
        response = await fetch(`http://127.0.0.1:${port}/`).catch(async () => {
          await new Promise((r) => setTimeout(r, 100));
          return undefined;
        });
      }
      if (!response) throw new Error(`workerd did not answer on port ${port}:\n${output}`);
      const body = await response.text();
      assert.is(response.status, 200, `workerd: ${body}\n${output}`);
      const result = JSON.parse(body) as SmokeResult;
      report('workerd', binary.version, result, Date.now() - t0);
      sameAsNode('workerd', result);
    } finally {
      if (!exited) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    }
  });
});

test.after(() => {
  console.log(`    runtime matrix: ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

test.run();
