// One timed case: a warm-up call, then benchmark.js sampling. benchmark.js runs `fn` in cycles of at
// least 50 ms (one call per cycle when a call is slower than that); each cycle is one sample.
import type BenchmarkType from 'benchmark';

export interface Timing {
  /** Median of the samples, ms per call: the number the tables report. */
  medianMs: number;
  meanMs: number;
  /** Relative margin of error of the mean, percent (95% confidence, Student's t). */
  rme: number;
  samples: number;
}

export interface TimingOptions {
  /** Seconds of sampling per case once the minimum sample count is reached. */
  budget: number;
  /** Called after each cycle with the number of samples so far. */
  onSample?: (samples: number) => void;
}

/** Calls at or above this many seconds count as slow: fewer samples are required of them. */
export const SLOW_CALL = 0.1;
export const MIN_SAMPLES_FAST = 10;
export const MIN_SAMPLES_SLOW = 3;
/** Calls at or above this many seconds are timed directly, one call per sample, without benchmark.js. */
export const VERY_SLOW_CALL = 1;

export function measure(name: string, fn: () => void, options: TimingOptions): Timing {
  const start = performance.now();
  fn(); // warm-up (compiles, grows memory), and tells how slow a call is
  const first = (performance.now() - start) / 1e3;
  if (first >= VERY_SLOW_CALL) return measureDirect(fn, options);
  const slow = first >= SLOW_CALL;
  const bench = new (benchmarkPackage())(name, fn, {
    minSamples: slow ? MIN_SAMPLES_SLOW : MIN_SAMPLES_FAST,
    maxTime: options.budget,
    delay: 0,
  });
  if (options.onSample) bench.on('cycle', () => options.onSample!(bench.stats.sample.length));
  bench.run();
  if (bench.error) throw bench.error;
  const ms = bench.stats.sample.map((s) => s * 1e3);
  return { medianMs: median(ms), meanMs: bench.stats.mean * 1e3, rme: bench.stats.rme, samples: ms.length };
}

/**
 * Very slow calls: benchmark.js would add an untimed check call before every sample (doubling the
 * cost), so time each call directly: MIN_SAMPLES_SLOW samples, more while the budget lasts.
 */
function measureDirect(fn: () => void, options: TimingOptions): Timing {
  const ms: number[] = [];
  const start = performance.now();
  while (ms.length < MIN_SAMPLES_SLOW || (performance.now() - start) / 1e3 < options.budget) {
    const t = performance.now();
    fn();
    ms.push(performance.now() - t);
    options.onSample?.(ms.length);
  }
  const mean = ms.reduce((a, b) => a + b, 0) / ms.length;
  const variance = ms.reduce((a, b) => a + (b - mean) ** 2, 0) / (ms.length - 1);
  const rme = ((tCritical(ms.length - 1) * Math.sqrt(variance / ms.length)) / mean) * 100;
  return { medianMs: median(ms), meanMs: mean, rme, samples: ms.length };
}

/** Two-sided 95% Student's t for `df` degrees of freedom (as benchmark.js: 1.96 past 30). */
function tCritical(df: number): number {
  const table = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131];
  return df <= table.length ? table[df - 1] : df <= 30 ? 2.09 : 1.96;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

let loaded: typeof BenchmarkType | undefined;

/**
 * Loads the `benchmark` package (an optional peer of performer-wasm: only performer-bench needs it).
 * Returns an error message when it is not installed.
 */
export async function loadBenchmarkPackage(): Promise<string | undefined> {
  try {
    loaded = (await import('benchmark')).default as typeof BenchmarkType;
    return undefined;
  } catch {
    return 'performer-bench times with the `benchmark` package: install it beside performer-wasm (npm install benchmark)';
  }
}

function benchmarkPackage(): typeof BenchmarkType {
  if (!loaded) throw new Error('loadBenchmarkPackage() first');
  return loaded;
}

// Paired timing, without benchmark.js (calls may be async): a warm-up call, then samples of ≥ 50 ms
// (several calls when calls are fast), at least MIN_SAMPLES_FAST (MIN_SAMPLES_SLOW for slow calls).
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
 * Times two calls alternately, sample by sample (ours, other, ours, other, …), so that a drift of a shared
 * machine's load falls on both alike. Each side gets the sampling budget; the ratio other/ours is the
 * median of the ratios of successive pairs. Calls may be asynchronous (onnxruntime's session.run).
 */
export async function measurePair(ours: Call, other: Call, budget: number): Promise<{ ours: Timing; other: Timing; ratio: number }> {
  const a = await sampler(ours);
  const b = await sampler(other);
  const minSamples = a.slow || b.slow ? MIN_SAMPLES_SLOW : MIN_SAMPLES_FAST;
  const msA: number[] = [];
  const msB: number[] = [];
  const start = performance.now();
  while (msA.length < minSamples || (performance.now() - start) / 1e3 < 2 * budget) {
    msA.push(await a.sample());
    msB.push(await b.sample());
  }
  return { ours: summarize(msA), other: summarize(msB), ratio: median(msB.map((x, i) => x / msA[i])) };
}
