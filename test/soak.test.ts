// Memory soak: many calls of mixed shapes (test/support/soak.ts, in a child process with --expose-gc).
// After the warm-up neither wasm memory nor the JS heap may keep growing, and decoders dropped without
// dispose() are freed by the FinalizationRegistry. CI runs 2 000 calls; the full soak is
//   SOAK_CALLS=100000 node --import tsx test/soak.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CALLS = Number(process.env.SOAK_CALLS ?? 2000);
// JS heap: the medians of the first and the last five checkpoints after warm-up may differ by this much
// (GC noise is a few 100 kB; a leak of one small object per call is 200 kB per 2 000 calls and grows
// with the calls, so the full soak sees it plainly).
const HEAP_SLACK = 1 << 20;

interface Point { calls: number; wasmBytes: number; liveBlocks: number; heapUsed: number }

test(`soak: ${CALLS} calls of mixed shapes; wasm memory and the JS heap stop growing after warm-up`, () => {
  const script = fileURLToPath(new URL('./support/soak.ts', import.meta.url));
  const run = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', script], {
    encoding: 'utf8', env: { ...process.env, SOAK_CALLS: String(CALLS) }, timeout: 3_600_000, maxBuffer: 1 << 24,
  });
  assert.is(run.status, 0, run.stderr);
  const r = JSON.parse(run.stdout.trim().split('\n').pop()!) as {
    calls: number; warmup: number; gc: boolean; seconds: number; baseBlocks: number; counts: Record<string, number>;
    curve: Point[]; end: Omit<Point, 'calls'>; finite: boolean;
  };
  assert.ok(r.gc, 'the child has global.gc');
  assert.ok(r.finite);
  const mib = (x: number) => `${(x / 2 ** 20).toFixed(2)} MiB`;
  const [start, warm] = [r.curve[0], r.curve.find((p) => p.calls === r.warmup)!];
  const after = r.curve.filter((p) => p.calls >= r.warmup);
  console.log(`    ${r.calls} calls in ${r.seconds.toFixed(1)} s: ${Object.entries(r.counts).map(([op, n]) => `${op} ${n}`).join(', ')}`);
  console.log(`    wasm memory: ${mib(start.wasmBytes)} at start, ${mib(warm.wasmBytes)} after warm-up (${r.warmup} calls), ${mib(r.end.wasmBytes)} at the end`);
  console.log(`    JS heap used: ${mib(start.heapUsed)} at start, ${mib(warm.heapUsed)} after warm-up, ${mib(r.end.heapUsed)} at the end ` +
              `(checkpoints ${mib(Math.min(...after.map((p) => p.heapUsed)))} … ${mib(Math.max(...after.map((p) => p.heapUsed)))})`);
  console.log(`    live wasm blocks: ${r.baseBlocks} before, ${r.end.liveBlocks} at the end (the scratch; every decoder freed)`);
  // wasm memory never grows after the warm-up (which ran the largest shapes first)
  for (const p of after) assert.is(p.wasmBytes, warm.wasmBytes, `wasm memory grew to ${mib(p.wasmBytes)} at call ${p.calls}`);
  // every decoder, disposed or dropped, was freed: only the shared scratch block is left
  assert.ok(r.end.liveBlocks <= r.baseBlocks + 1, `${r.end.liveBlocks} wasm blocks still live`);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const first = median(after.slice(0, 5).map((p) => p.heapUsed));
  const last = median(after.slice(-5).map((p) => p.heapUsed));
  assert.ok(last - first <= HEAP_SLACK, `the JS heap grew from ${mib(first)} to ${mib(last)}`);
});

test.run();
