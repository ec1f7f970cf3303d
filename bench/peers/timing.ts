// Timing for peers, whose calls may be asynchronous (onnxruntime's session.run): the same rules as
// ../timing.ts without benchmark.js: a warm-up call, then samples of ≥ 50 ms (several calls when calls
// are fast), at least MIN_SAMPLES_FAST (MIN_SAMPLES_SLOW for slow calls), until the budget has passed.
// A peer is timed in pairs with our call, sample by sample (ours, peer, ours, peer, …): on a shared
// machine whose load drifts, both sides of a ratio then see the same load.
import { median, MIN_SAMPLES_FAST, MIN_SAMPLES_SLOW, SLOW_CALL, type Timing } from '../timing.ts';

const SAMPLE_MS = 50;

type Call = () => void | Promise<void>;

/** Warms fn up; returns a function that takes one sample (ms per call) and whether calls are slow. */
async function sampler(fn: Call): Promise<{ sample: () => Promise<number>; slow: boolean }> {
  const t = performance.now();
  await fn();
  const first = performance.now() - t;
  const perSample = Math.max(1, Math.ceil(SAMPLE_MS / Math.max(first, 1e-3)));
  const sample = async () => {
    const t0 = performance.now();
    for (let i = 0; i < perSample; i++) await fn();
    return (performance.now() - t0) / perSample;
  };
  return { sample, slow: first / 1e3 >= SLOW_CALL };
}

function summarize(ms: number[]): Timing {
  const mean = ms.reduce((a, b) => a + b, 0) / ms.length;
  const sd = Math.sqrt(ms.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, ms.length - 1));
  const rme = ((1.96 * sd) / Math.sqrt(ms.length) / mean) * 100; // normal approximation
  return { medianMs: median(ms), meanMs: mean, rme, samples: ms.length };
}

/**
 * Times ours and a peer alternately. Each side gets the sampling budget; the ratio peer/ours is the
 * median of the ratios of successive pairs, which a slow drift of the machine's speed cancels out of.
 */
export async function measurePair(ours: Call, peer: Call, budget: number): Promise<{ ours: Timing; peer: Timing; ratio: number }> {
  const a = await sampler(ours);
  const b = await sampler(peer);
  const minSamples = a.slow || b.slow ? MIN_SAMPLES_SLOW : MIN_SAMPLES_FAST;
  const msA: number[] = [];
  const msB: number[] = [];
  const start = performance.now();
  while (msA.length < minSamples || (performance.now() - start) / 1e3 < 2 * budget) {
    msA.push(await a.sample());
    msB.push(await b.sample());
  }
  return { ours: summarize(msA), peer: summarize(msB), ratio: median(msB.map((x, i) => x / msA[i])) };
}
