// The exact-attention test cases (test/exact.test.ts, test/exact-backward.test.ts): shapes, masks, inputs.
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
