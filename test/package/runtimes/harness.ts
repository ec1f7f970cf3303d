// Helpers shared by the runtime matrix (test/package/runtimes.test.ts) and the demo test (test/package/demo.test.ts):
// finding the runtimes that the devDependencies ship, launching headless Chromium, free ports.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';

export const ROOT = join(import.meta.dirname, '..', '..', '..');

/** In CI (CI=true) a missing runtime fails the test; elsewhere it is skipped with a note. */
export const STRICT = /^(1|true)$/i.test(process.env.CI ?? '');

export class MissingRuntime extends Error {}

/**
 * A runtime binary shipped by an npm devDependency (deno, bun, workerd). Each ships its binary in an
 * optional platform package, and a postinstall script links it into the main package's bin. npm may skip
 * that script (allowScripts in package.json approves it; other installs may not), so look first in the
 * platform package itself, then in node_modules/.bin; the first candidate that answers `--version` wins.
 */
export function findBinary(pkg: 'deno' | 'bun' | 'workerd'): { path: string; version: string } {
  const modules = join(ROOT, 'node_modules');
  const candidates: string[] = [];
  const manifest = join(modules, pkg, 'package.json');
  if (existsSync(manifest)) {
    const optional = Object.keys((JSON.parse(readFileSync(manifest, 'utf8')) as { optionalDependencies?: Record<string, string> }).optionalDependencies ?? {});
    for (const platformPkg of optional) {
      for (const file of ['bin/bun', 'deno', 'bin/workerd']) candidates.push(join(modules, platformPkg, file));
    }
  }
  candidates.push(join(modules, '.bin', pkg));
  const tried: string[] = [];
  for (const path of candidates) {
    if (!existsSync(path)) continue;
    const result = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 30_000 });
    if (result.status === 0) return { path, version: result.stdout.trim().split('\n')[0]! };
    tried.push(`${path}: ${(result.error?.message ?? result.stderr ?? '').trim().split('\n')[0]}`);
  }
  throw new MissingRuntime(`${pkg}: no working binary (npm ci installs it as a devDependency)${tried.length ? `; tried ${tried.join('; ')}` : ''}`);
}

/** Chromium from Debian (scripts/ensure-chromium.sh installs it), or $CHROMIUM_PATH. */
export function chromiumPath(): string {
  const path = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  if (!existsSync(path)) throw new MissingRuntime(`chromium: ${path} does not exist (bash scripts/ensure-chromium.sh installs it)`);
  return path;
}

/** Headless Chromium through playwright-core; playwright gives it a fresh temporary --user-data-dir. */
export async function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath,
    headless: true,
    timeout: 60_000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** dist/ must be built (npm test builds it first); says how to fix it when it is not. */
export function assertBuilt(): void {
  for (const file of ['dist/index.js', 'dist/index-edge.js', 'dist/performer.wasm']) {
    if (!existsSync(join(ROOT, file))) throw new Error(`${file} is missing: run \`npm run build\` (npm test does)`);
  }
}

/** Runs `body` for a runtime; a MissingRuntime error is a skip locally and a failure in CI. */
export async function orSkip<T>(name: string, body: () => Promise<T>): Promise<T | undefined> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof MissingRuntime && !STRICT) {
      console.log(`    ${name.padEnd(24)} skipped: ${error.message}`);
      return undefined;
    }
    throw error;
  }
}
