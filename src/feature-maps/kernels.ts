// Feature-map descriptors: one entry per kernel, the single place that knows each kernel's ids and
// constants (the wasm side in assembly/feature-maps/features.ts implements the maps themselves).

export type KernelName = 'softmax' | 'softmax-hyperbolic' | 'softmax-trig' | 'softmax-hyperbolic-normalized' | 'relu' | 'elu1' | 'exp' | 'abs' | 'gelu';

export interface FeatureMap {
  readonly name: KernelName;
  /** The kind id understood by the wasm kernels. */
  readonly id: number;
  /** Estimates the softmax kernel exp(q̂·k̂) with x̂ = x·d^(-1/4); the generalized kernels map x itself. */
  readonly softmax: boolean;
  /** Two feature blocks per projection row (M = 2m). */
  readonly twoBlock: boolean;
}

function map(name: KernelName, id: number, softmax: boolean, twoBlock: boolean): FeatureMap {
  return { name, id, softmax, twoBlock };
}

export const FEATURE_MAPS: Readonly<Record<KernelName, FeatureMap>> = {
  softmax: map('softmax', 0, true, false),
  'softmax-hyperbolic': map('softmax-hyperbolic', 1, true, true),
  'softmax-trig': map('softmax-trig', 2, true, true),
  relu: map('relu', 3, false, false),
  elu1: map('elu1', 4, false, false),
  exp: map('exp', 5, false, false),
  abs: map('abs', 6, false, false),
  gelu: map('gelu', 7, false, false),
  // a learned kernel, not an unbiased estimator: φ = a·[softmax(W·x̂), softmax(−W·x̂)] (docs/learned-feature-maps.md)
  'softmax-hyperbolic-normalized': map('softmax-hyperbolic-normalized', 8, true, true),
};

export const KERNEL_NAMES = Object.keys(FEATURE_MAPS) as KernelName[];

/** ε added to generalized features by default (the reference implementation's kernel_epsilon). */
export const DEFAULT_KERNEL_EPSILON = 1e-3;

/**
 * The scale a in φ = a·(…): 1/√(2m) for hyperbolic and normalized hyperbolic (2m features estimating
 * one kernel value), 1/√m for the other projected maps, 1 without projection.
 */
export function featureScale(fm: FeatureMap, m: number, projected: boolean): number {
  if (!projected) return 1;
  return fm.name === 'softmax-hyperbolic' || fm.name === 'softmax-hyperbolic-normalized' ? 1 / Math.sqrt(2 * m) : 1 / Math.sqrt(m);
}

/** Rows padded to whole f32x4 lanes. */
export function padded(n: number): number {
  return Math.ceil(n / 4) * 4;
}
