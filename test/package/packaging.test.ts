// The packed tarball through the checks the ecosystem uses: publint (package.json against the files) and
// Are the Types Wrong (every export resolves to types and JavaScript under node16 and bundler resolution;
// ESM-only profile: CommonJS consumers use `await import()`, see the README).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT } from './runtimes/harness.ts';
import { packedTarball } from '../support/packed.ts';

const bin = (name: string) => join(ROOT, 'node_modules', '.bin', name);

function run(name: string, args: string[]): { ok: boolean; output: string } {
  try {
    return { ok: true, output: execFileSync(bin(name), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

test('publint passes on the tarball (no warnings or suggestions either)', () => {
  const { ok, output } = run('publint', [packedTarball(), '--strict']);
  assert.ok(ok, output);
  assert.match(output, /All good!/);
});

test('Are the Types Wrong (--profile esm-only) passes on the tarball', () => {
  const { ok, output } = run('attw', [packedTarball(), '--profile', 'esm-only', '--format', 'ascii']);
  assert.ok(ok, output);
  // every export is green for ESM importers under node16 and bundler resolution (node10 and require are ignored)
  const esmRows = output.split('\n').filter((line) => /^(node16 \(from ESM\)|bundler):/.test(line));
  assert.ok(esmRows.length >= 2 * 6, output);
  assert.equal(esmRows.filter((line) => !line.includes('🟢')), [], output);
});

test('package.json names the repository, homepage and issue tracker', async () => {
  const pkg = (await import('../../package.json', { with: { type: 'json' } })).default as Record<string, unknown>;
  assert.match(JSON.stringify(pkg.repository), /github\.com\/performer-wasm\/performer-wasm/);
  assert.type(pkg.homepage, 'string');
  assert.match(JSON.stringify(pkg.bugs), /issues/);
});

test.run();
