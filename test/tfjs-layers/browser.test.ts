// The layer in headless Chromium on tfjs-backend-wasm: browser/page.ts, bundled with the built package
// (dist/) and TensorFlow.js by esbuild into a temporary folder served with the backend's .wasm files.
// Locally a missing Chromium is skipped with a note; in CI (CI=true) it fails.
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { build } from 'esbuild';
import { startStaticServer } from '../../scripts/serve.ts';
import { assertBuilt, launchChromium, orSkip, ROOT } from '../package/runtimes/harness.ts';

const require = createRequire(import.meta.url);

test('chromium, tfjs-backend-wasm: exact mode equals the float64 Keras reference; IndexedDB save → load is bit-identical in every mode', async () => {
  await orSkip('chromium', async () => {
    assertBuilt();
    const dir = mkdtempSync(join(tmpdir(), 'mha-browser-'));
    const browser = await launchChromium();
    const server = await startStaticServer({ root: dir });
    try {
      await build({
        entryPoints: [join(import.meta.dirname, 'browser/page.ts')], bundle: true, format: 'esm', platform: 'browser', outfile: join(dir, 'page.js'),
        alias: { 'performer-wasm/tfjs-layers': join(ROOT, 'dist/tfjs-layers.js'), 'performer-wasm': join(ROOT, 'dist/index.js') },
        logLevel: 'error', define: { 'process.env.NODE_ENV': '"production"' },
      });
      cpSync(join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist'), join(dir, 'wasm'), { recursive: true, filter: (f) => !/\.(js|ts|map)$/.test(f) });
      writeFileSync(join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><script type="module" src="page.js"></script>');
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => errors.push(`console: ${m.text()}`));
      await page.goto(`${server.origin}/index.html`);
      await page.waitForSelector('body[data-done]', { state: 'attached', timeout: 300_000 }).catch(() => { throw new Error(`the page did not finish: ${errors.join('; ')}`); });
      const r = await page.evaluate(() => (window as unknown as { layerResults: Record<string, any> }).layerResults);
      assert.not.ok(r.error, r.error);
      assert.is(r.backend, 'wasm');
      for (const [name, err] of Object.entries(r.errors as Record<string, number>)) assert.ok(err <= 1e-5, `${name}: ${err}`);
      assert.equal(r.same, { exact: true, favor: true, hybrid: true });
      console.log(`    chromium ${browser.version()}: ${JSON.stringify(r.errors)}`);
    } finally {
      await browser.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test.run();
