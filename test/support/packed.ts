// The package as a user gets it: `npm pack` of the built repository, unpacked into node_modules/performer-wasm
// of a fresh project in a temporary folder (outside the repository, so nothing resolves to the repo's own
// node_modules by accident). Packed once per process and shared by the tests that need it (packaging checks,
// the type matrix, the README's examples, the installed bench bin). Projects are removed at exit.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertBuilt, ROOT } from '../package/runtimes/harness.ts';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let tarball: string | undefined;
const made: string[] = [];
process.on('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** The packed tarball (built package, `prepare` not run again: the tests run after `npm run build`). */
export function packedTarball(): string {
  if (tarball) return tarball;
  assertBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'performer-pack-'));
  made.push(dir);
  execFileSync(npm, ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const name = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  if (!name) throw new Error('npm pack wrote no tarball');
  return (tarball = join(dir, name));
}

/**
 * A fresh ESM project with the tarball installed as node_modules/performer-wasm. `link` names packages of the
 * repository's node_modules to make available too (symlinked: e.g. '@tensorflow', 'benchmark').
 */
export function installedProject(link: string[] = []): string {
  const project = mkdtempSync(join(tmpdir(), 'performer-user-'));
  made.push(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user', private: true, type: 'module' }));
  const modules = join(project, 'node_modules');
  mkdirSync(modules);
  execFileSync('tar', ['-xzf', packedTarball(), '-C', modules]);
  renameSync(join(modules, 'package'), join(modules, 'performer-wasm'));
  for (const name of link) symlinkSync(join(ROOT, 'node_modules', name), join(modules, name), 'dir');
  return project;
}
