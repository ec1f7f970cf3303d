// One timed case: a warm-up call, then benchmark.js sampling. benchmark.js runs `fn` in cycles of at
// least 50 ms (one call per cycle when a call is slower than that); each cycle is one sample.
import Benchmark from 'benchmark';

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

export function measure(name: string, fn: () => void, options: TimingOptions): Timing {
  const start = performance.now();
  fn(); // warm-up (compiles, grows memory), and tells how slow a call is
  const slow = (performance.now() - start) / 1e3 >= SLOW_CALL;
  const bench = new Benchmark(name, fn, {
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

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
