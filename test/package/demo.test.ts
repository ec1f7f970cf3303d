// The demo page (demo/) in headless Chromium: it loads, a control changes, and the matrices, errors and
// error curve it draws equal the same computation in Node bit for bit (baseline build, integer-made
// inputs); the timing at L = 4096 is there; a screenshot goes to test-output/demo.png.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Curve, DemoParams, Timing } from '../../demo/compute.js';
import { startStaticServer, type StaticServer } from '../../scripts/serve.ts';
import { assertBuilt, launchChromium, orSkip, ROOT } from './runtimes/harness.ts';

interface PageDemo {
  params: DemoParams;
  exact: number[];
  favor: number[];
  error: number;
  maxAbs: number;
  curve: Curve;
  timing: Timing;
}

const CHANGED: DemoParams = { L: 96, d: 16, m: 256, kernel: 'softmax-hyperbolic', seed: 3, strength: 1 };

test('demo: the page draws what Node computes, after a control changes; screenshot', async () => {
  assertBuilt();
  await orSkip('chromium (demo)', async () => {
    const browser = await launchChromium();
    let server: StaticServer | undefined;
    try {
      server = await startStaticServer({ root: ROOT });
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()); });
      await page.goto(`${server.origin}/demo/`);
      const settled = async (what: string) => {
        await page.waitForSelector(what, { timeout: 120_000 }).catch(() => {
          throw new Error(`demo: ${what} never appeared; page errors: ${errors.join('; ') || 'none'}`);
        });
      };
      await settled('body[data-state="done"][data-timing="done"]');

      // change the controls (each change recomputes), then wait for the figures of the last one
      await page.selectOption('select[name=kernel]', CHANGED.kernel);
      await page.selectOption('select[name=L]', String(CHANGED.L));
      await page.selectOption('select[name=m]', String(CHANGED.m));
      await page.selectOption('select[name=strength]', String(CHANGED.strength));
      await page.fill('input[name=seed]', String(CHANGED.seed));
      await page.dispatchEvent('input[name=seed]', 'change');
      await page.waitForFunction((expected) => document.body.dataset.state === 'done' && document.body.dataset.params === expected,
        JSON.stringify(CHANGED), { timeout: 120_000 });
      assert.equal(errors, [], 'page errors');

      const shown = await page.evaluate(() => {
        const d = (window as unknown as { demo: Omit<PageDemo, 'exact' | 'favor'> & { exact: Float32Array; favor: Float32Array } }).demo;
        return { ...d, exact: Array.from(d.exact), favor: Array.from(d.favor) } as PageDemo;
      });
      assert.equal(shown.params, CHANGED);

      // the same computation in Node, on the built package
      const compute = await import('../../demo/compute.js');
      await compute.ready();
      const node = compute.matrices(CHANGED);
      const curve = compute.errorCurve(CHANGED);
      assert.is(shown.exact.length, CHANGED.L * CHANGED.L);
      const firstDiff = (a: number[], b: Float32Array) => a.findIndex((x, i) => x !== b[i]);
      assert.is(firstDiff(shown.exact, node.exact), -1, 'exact attention matrix: page ≠ node');
      assert.is(firstDiff(shown.favor, node.favor), -1, 'FAVOR+ matrix: page ≠ node');
      assert.is(shown.error, node.error);
      assert.is(shown.maxAbs, node.maxAbs);
      assert.equal(shown.curve, curve);
      // the figures make sense: rows of A sum to 1, FAVOR+ beats uniform attention at m = 512
      for (let i = 0; i < CHANGED.L; i++) {
        let sum = 0;
        for (let j = 0; j < CHANGED.L; j++) sum += node.exact[i * CHANGED.L + j]!;
        assert.ok(Math.abs(sum - 1) < 1e-4, `row ${i} of A sums to ${sum}`);
      }
      const last = curve.points[curve.points.length - 1]!;
      assert.ok(last.error < curve.uniform, `m = ${last.m}: error ${last.error} ≥ uniform ${curve.uniform}`);
      assert.ok(shown.timing.exactMs > 0 && shown.timing.favorMs > 0, 'timing');
      assert.is(shown.timing.L, 4096);

      // the canvases are drawn (many colours, not blank)
      const colours = await page.evaluate(() => ['exact', 'favor', 'diff', 'curve'].map((id) => {
        const canvas = document.getElementById(id) as HTMLCanvasElement;
        const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        const seen = new Set<number>();
        for (let i = 0; i < data.length; i += 4) seen.add((data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!);
        return seen.size;
      }));
      for (const count of colours) assert.ok(count > 20, `a canvas has only ${count} colours`);

      mkdirSync(join(ROOT, 'test-output'), { recursive: true });
      await page.screenshot({ path: join(ROOT, 'test-output', 'demo.png'), fullPage: true });
      console.log(`    demo: ${CHANGED.kernel}, L = ${CHANGED.L}, m = ${CHANGED.m}: relative error ${node.error.toFixed(4)} (page = node, bit for bit); `
        + `L = 4096: exact ${shown.timing.exactMs.toFixed(0)} ms, FAVOR+ ${shown.timing.favorMs.toFixed(0)} ms; screenshot test-output/demo.png`);
    } finally {
      await browser.close();
      await server?.close();
    }
  });
});

test.run();
