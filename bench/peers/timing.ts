// Timing for peers, whose calls may be asynchronous (onnxruntime's session.run): the same rules as
// ../timing.ts without benchmark.js: a warm-up call, then samples of ≥ 50 ms (several calls when calls
// are fast), at least MIN_SAMPLES_FAST (MIN_SAMPLES_SLOW for slow calls), until the budget has passed.
import { median, MIN_SAMPLES_FAST, MIN_SAMPLES_SLOW, SLOW_CALL, type Timing } from '../timing.ts';

const SAMPLE_MS = 50;

export async function measureAsync(fn: () => void | Promise<void>, budget: number): Promise<Timing> {
  let t = performance.now();
  await fn();
  const first = performance.now() - t;
  const minSamples = first / 1e3 >= SLOW_CALL ? MIN_SAMPLES_SLOW : MIN_SAMPLES_FAST;
  const perSample = Math.max(1, Math.ceil(SAMPLE_MS / Math.max(first, 1e-3)));
  const ms: number[] = [];
  const start = performance.now();
  while (ms.length < minSamples || (performance.now() - start) / 1e3 < budget) {
    t = performance.now();
    for (let i = 0; i < perSample; i++) await fn();
    ms.push((performance.now() - t) / perSample);
  }
  const mean = ms.reduce((a, b) => a + b, 0) / ms.length;
  const sd = Math.sqrt(ms.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, ms.length - 1));
  const rme = ((1.96 * sd) / Math.sqrt(ms.length) / mean) * 100; // normal approximation
  return { medianMs: median(ms), meanMs: mean, rme, samples: ms.length };
}
