// The exact-attention test cases (test/exact/exact.test.ts, test/exact/exact-backward.test.ts): shapes, masks, inputs.
import type { AttentionShape } from '../../src/index.ts';
import { randn, rng } from './data.ts';

export interface Case {
  shape: AttentionShape;
  causal?: boolean;
  /** fraction of keys masked out (random), if any */
  masked?: number;
  /** batch rows whose keys are all masked */
  deadRows?: number[];
  sigma?: number;
}

export function dimsOf(shape: AttentionShape) {
  const batch = shape.batch ?? 1;
  const heads = shape.heads ?? 1;
  const Lq = shape.queries;
  const Lk = shape.keys ?? Lq;
  const d = shape.dim;
  const dv = shape.valueDim ?? d;
  return { batch, heads, Lq, Lk, d, dv };
}

export function makeMask(batch: number, Lk: number, fraction: number, seed: number, deadRows: number[] = []): Uint8Array {
  const u = rng(seed);
  const mask = new Uint8Array(batch * Lk);
  for (let i = 0; i < mask.length; i++) mask[i] = u() < fraction ? 0 : 1 + Math.floor(u() * 254); // any nonzero keeps
  for (const b of deadRows) mask.fill(0, b * Lk, (b + 1) * Lk);
  return mask;
}

/** q, k, v (and the upstream gradient dOut, for backward tests) and the mask of a case. */
export function makeProblem(c: Case, seed: number) {
  const { batch, heads, Lq, Lk, d, dv } = dimsOf(c.shape);
  const sigma = c.sigma ?? 1;
  const q = randn(batch * heads * Lq * d, seed, sigma);
  const k = randn(batch * heads * Lk * d, seed + 1, sigma);
  const v = randn(batch * heads * Lk * dv, seed + 2);
  const keyMask = c.masked !== undefined || c.deadRows ? makeMask(batch, Lk, c.masked ?? 0, seed + 3, c.deadRows) : undefined;
  const dOut = randn(batch * heads * Lq * dv, seed + 4);
  return { q, k, v, keyMask, dOut };
}

export function describeCase(c: Case): string {
  const flags = [c.causal ? 'causal' : '', c.masked !== undefined ? `masked ${c.masked}` : '', c.deadRows ? `dead rows ${c.deadRows}` : ''];
  return `${JSON.stringify(c.shape)} ${flags.filter(Boolean).join(', ')}`;
}

/** Shapes for exact attention, forward and backward: odd sizes, L = 1, Lq ≠ Lk both ways, dv ≠ d, tiles, masks. */
export const EXACT_CASES: Case[] = [
  { shape: { queries: 1, dim: 1 } },
  { shape: { queries: 1, keys: 2, dim: 1 } },
  { shape: { queries: 2, keys: 1, dim: 1, valueDim: 3 } },
  { shape: { queries: 7, dim: 1 }, causal: true },
  { shape: { queries: 7, dim: 5, valueDim: 3 } },
  { shape: { queries: 33, keys: 65, dim: 16 } },
  { shape: { queries: 65, keys: 33, dim: 16 } },
  { shape: { queries: 127, dim: 64 } },
  { shape: { queries: 127, dim: 64 }, causal: true },
  { shape: { queries: 33, keys: 127, dim: 8, valueDim: 20 }, causal: true }, // key cache: Lq < Lk
  { shape: { queries: 127, keys: 33, dim: 8 }, causal: true }, // the first 94 queries see no key: zeros
  { shape: { batch: 2, heads: 3, queries: 65, keys: 65, dim: 32 } },
  { shape: { batch: 2, heads: 3, queries: 65, dim: 32 }, causal: true },
  { shape: { batch: 3, heads: 2, queries: 33, keys: 130, dim: 16, valueDim: 7 }, masked: 0.3 },
  { shape: { batch: 3, heads: 2, queries: 33, keys: 130, dim: 16, valueDim: 7 }, masked: 0.3, causal: true },
  { shape: { batch: 3, heads: 2, queries: 20, keys: 40, dim: 9 }, masked: 0.2, deadRows: [1] },
  { shape: { batch: 2, heads: 2, queries: 70, keys: 45, dim: 9 }, masked: 0.5, deadRows: [0], causal: true },
  { shape: { queries: 1, keys: 300, dim: 64 } }, // one decoding step over a key cache
  { shape: { queries: 1, keys: 300, dim: 64 }, causal: true, masked: 0.9 },
  { shape: { queries: 300, keys: 1, dim: 3 } },
  { shape: { queries: 200, dim: 64, valueDim: 128 } },
  { shape: { queries: 129, keys: 257, dim: 65, valueDim: 1 } },
  { shape: { queries: 64, keys: 128, dim: 64 }, causal: true }, // exact tile multiples
  { shape: { queries: 128, keys: 256, dim: 32 } },
  { shape: { queries: 70, keys: 400, dim: 24 }, causal: true, masked: 0.25 }, // several key tiles, masked diagonal
  { shape: { queries: 400, keys: 70, dim: 24 }, causal: true }, // several query tiles, Lq > Lk
  { shape: { batch: 2, heads: 2, queries: 130, keys: 260, dim: 12, valueDim: 5 }, causal: true },
  { shape: { queries: 97, keys: 131, dim: 3, valueDim: 130 }, sigma: 0.3 },
  { shape: { batch: 2, heads: 1, queries: 1, keys: 1, dim: 4 }, deadRows: [1] },
];
