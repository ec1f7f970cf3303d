// What a benchmark mode is. A new mode is one file in modes/ plus one line in modes/index.ts.
import { KERNEL_NAMES } from 'performer-wasm/internal';
import type { KernelName } from 'performer-wasm';
import type { Table } from './table.ts';
import type { Timing } from './timing.ts';

export interface Flag {
  type: 'string' | 'boolean';
  /** One line for --help. */
  help: string;
  /** For string flags, the value's name in --help: '<list>'. */
  value?: string;
  short?: string;
}

export type FlagValues = Record<string, string | boolean | undefined>;

export interface Context {
  /** Times `fn` (warm-up call included, not counted); `label` is shown by the progress line. */
  measure(label: string, fn: () => void): Timing;
  /** Times two calls in alternation, sample by sample (measurePair in timing.ts); ratio = median of other/ours. */
  measurePair(label: string, ours: () => void, other: () => void): Promise<{ ours: Timing; other: Timing; ratio: number }>;
}

export interface Mode<Options = unknown> {
  name: string;
  /** One line for --help. */
  summary: string;
  /** Part of a plain `npm run bench`. */
  default?: boolean;
  /** Flags this mode reads. Modes may share a flag if they declare it the same way (see shapeFlags). */
  flags?: Record<string, Flag>;
  /** Extra lines for --help (what is measured, limits). */
  notes?: string[];
  /** Reads and checks this mode's flags (throws UsageError). Runs for every selected mode before any timing. */
  parse(flags: FlagValues): Options;
  run(ctx: Context, options: Options): Table | Table[] | Promise<Table | Table[]>;
}

/** Declares a mode; infers its options type from `parse`. */
export function defineMode<Options>(mode: Mode<Options>): Mode<Options> {
  return mode;
}

/** Attention shape flags, for every mode that runs attention. */
export const shapeFlags: Record<string, Flag> = {
  seq: { type: 'string', value: '<list>', help: 'sequence lengths L, comma-separated' },
  dim: { type: 'string', value: '<n>', help: 'head dimension d (= value dimension)' },
  heads: { type: 'string', value: '<list>', help: 'heads (a comma-separated list in favor, causal; other modes take the first)' },
  batch: { type: 'string', value: '<n>', help: 'batch size' },
};

/** The projections the benchmark modes draw (--projection). */
export const BENCH_PROJECTIONS = ['orthogonal', 'iid', 'structured'] as const;
export type BenchProjection = (typeof BENCH_PROJECTIONS)[number];

/** FAVOR+ configuration flags, for every mode that runs FavorAttention. */
export const favorFlags: Record<string, Flag> = {
  features: { type: 'string', value: '<m>', help: 'random features m (FavorAttention features)' },
  kernel: { type: 'string', value: '<name>', help: `feature map: ${KERNEL_NAMES.join(', ')}` },
  projection: { type: 'string', value: '<p>', help: `random projection: ${BENCH_PROJECTIONS.join(', ')} (default orthogonal; not orthogonal: also timed against orthogonal, paired)` },
};

/** Hybrid attention (docs/hybrid-attention.md), for the modes that run FavorAttention forward or decode. */
export const windowFlag: Record<string, Flag> = {
  window: { type: 'string', value: '<w>', help: 'exact window w of hybrid attention (default 0: plain FAVOR+); timed beside plain FAVOR+' },
};

/** --window: an integer ≥ 0 (0: plain FAVOR+). */
export function windowOf(flags: FlagValues): number {
  const raw = flags.window;
  if (raw === undefined) return 0;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--window takes an integer ≥ 0 (got "${raw}")`);
  return n;
}

/** The --projection flag. */
export function projectionFlag(flags: FlagValues): BenchProjection {
  const raw = flags.projection;
  if (raw === undefined) return 'orthogonal';
  if (!(BENCH_PROJECTIONS as readonly string[]).includes(String(raw))) {
    throw new UsageError(`--projection takes one of ${BENCH_PROJECTIONS.join(', ')} (got "${raw}")`);
  }
  return raw as BenchProjection;
}

/** The exact-attention size limit of the modes that compare FAVOR+ with exact attention. */
export const exactMaxFlag: Record<string, Flag> = {
  'exact-max': { type: 'string', value: '<L>', help: 'time exact attention only while batch·heads·L² ≤ <L>² (default 16384; 0: never)' },
};

export class UsageError extends Error {}

/** The --kernel flag, checked against the package's kernel names. */
export function kernelFlag(flags: FlagValues, fallback: KernelName = 'softmax'): KernelName {
  const raw = flags.kernel;
  if (raw === undefined) return fallback;
  if (!(KERNEL_NAMES as string[]).includes(String(raw))) throw new UsageError(`--kernel takes one of ${KERNEL_NAMES.join(', ')} (got "${raw}")`);
  return raw as KernelName;
}

/** A positive integer flag, or `fallback` when absent. */
export function intFlag(flags: FlagValues, name: string, fallback: number): number {
  return intList(flags, name, [fallback])[0];
}

/** A comma-separated list of positive integers, or `fallback` when absent. */
export function intList(flags: FlagValues, name: string, fallback: number[]): number[] {
  const raw = flags[name];
  if (raw === undefined) return fallback;
  const values = String(raw).split(',').map((s) => Number(s.trim()));
  if (!values.length || values.some((v) => !Number.isInteger(v) || v < 1)) {
    throw new UsageError(`--${name} takes positive integers, comma-separated (got "${raw}")`);
  }
  return values;
}
