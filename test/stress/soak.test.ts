// Memory soak: many calls of mixed shapes (test/support/soak.ts, in child processes with --expose-gc),
// once with every decoder disposed and once with about half of them dropped without dispose() (freed by
// the FinalizationRegistry). After the warm-up the JS heap does not grow, no wasm block leaks, and with
// dispose() the wasm memory does not grow at all. CI runs 1 500 calls of each; the full soak is
//   SOAK_CALLS=100000 node --import tsx test/stress/soak.test.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CALLS = Number(process.env.SOAK_CALLS ?? 1500);
// JS heap: the medians of the first and the last five checkpoints after warm-up may differ by this much
// (GC noise is a few 100 kB; a leak of one small object per call is 150 kB per 1 500 calls and grows
// with the calls, so the full soak sees it plainly).
const HEAP_SLACK = 1 << 20;
// Dropped decoders: wasm memory is a high-water mark that depends on the collector; it may creep, but a
// leak proportional to the calls would pass this bound in the full soak (the leak detector proper is the
// count of live blocks, which must return to the scratch alone).
const DROPPED_GROWTH = 1.5;

interface Point { calls: number; wasmBytes: number; liveBlocks: number; heapUsed: number; heapTop: number; freeBytes: number; scratchBytes: number }
interface Result {
  calls: number; warmup: number; gc: boolean; drop: boolean; seconds: number; baseBlocks: number; counts: Record<string, number>;
  curve: Point[]; end: Omit<Point, 'calls'>; finite: boolean;
}

const mib = (x: number) => `${(x / 2 ** 20).toFixed(2)} MiB`;

function soak(drop: boolean): Result {
  const script = fileURLToPath(new URL('../support/soak.ts', import.meta.url));
  const run = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', script], {
    encoding: 'utf8', env: { ...process.env, SOAK_CALLS: String(CALLS), SOAK_DROP: drop ? '1' : '0' }, timeout: 3_600_000, maxBuffer: 1 << 24,
  });
  assert.is(run.status, 0, run.stderr);
  const r = JSON.parse(run.stdout.trim().split('\n').pop()!) as Result;
  assert.ok(r.gc, 'the child has global.gc');
  assert.ok(r.finite);
  const [start, warm] = [r.curve[0], r.curve.find((p) => p.calls === r.warmup)!];
  const after = r.curve.filter((p) => p.calls >= r.warmup);
  console.log(`    ${r.calls} calls in ${r.seconds.toFixed(1)} s: ${Object.entries(r.counts).map(([op, n]) => `${op} ${n}`).join(', ')}`);
  console.log(`    wasm memory: ${mib(start.wasmBytes)} at start, ${mib(warm.wasmBytes)} after warm-up (${r.warmup} calls), ${mib(r.end.wasmBytes)} at the end ` +
              `(in use at the end: ${mib(r.end.heapTop - r.end.freeBytes)}, the scratch ${mib(r.end.scratchBytes)})`);
  console.log(`    JS heap used: ${mib(start.heapUsed)} at start, ${mib(warm.heapUsed)} after warm-up, ${mib(r.end.heapUsed)} at the end ` +
              `(checkpoints ${mib(Math.min(...after.map((p) => p.heapUsed)))} … ${mib(Math.max(...after.map((p) => p.heapUsed)))})`);
  console.log(`    live wasm blocks: ${r.baseBlocks} before, at most ${Math.max(...after.map((p) => p.liveBlocks))} at the checkpoints, ${r.end.liveBlocks} at the end`);
  // no leak: at every checkpoint (after GC) only the shared scratch block is live
  for (const p of after) assert.ok(p.liveBlocks <= r.baseBlocks + 1, `${p.liveBlocks} wasm blocks live at call ${p.calls}`);
  assert.ok(r.end.liveBlocks <= r.baseBlocks + 1, `${r.end.liveBlocks} wasm blocks still live`);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const first = median(after.slice(0, 5).map((p) => p.heapUsed));
  const last = median(after.slice(-5).map((p) => p.heapUsed));
  assert.ok(last - first <= HEAP_SLACK, `the JS heap grew from ${mib(first)} to ${mib(last)}`);
  return r;
}

test(`soak, every decoder disposed: ${CALLS} calls; wasm memory and the JS heap flat after warm-up`, () => {
  const r = soak(false);
  const warm = r.curve.find((p) => p.calls === r.warmup)!;
  for (const p of r.curve.filter((x) => x.calls >= r.warmup)) {
    assert.is(p.wasmBytes, warm.wasmBytes, `wasm memory grew to ${mib(p.wasmBytes)} at call ${p.calls}`);
  }
  assert.is(r.end.wasmBytes, warm.wasmBytes);
});

test(`soak, half the decoders dropped without dispose(): ${CALLS} calls; every block freed, the JS heap flat`, () => {
  const r = soak(true);
  const warm = r.curve.find((p) => p.calls === r.warmup)!;
  assert.ok(r.end.wasmBytes <= DROPPED_GROWTH * warm.wasmBytes, `wasm memory ${mib(warm.wasmBytes)} → ${mib(r.end.wasmBytes)}`);
});

test.run();
