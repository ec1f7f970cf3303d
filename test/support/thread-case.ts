// One attention call of the thread tests (threads.test.ts, hybrid-threads.test.ts): fixed inputs from the case,
// every 7th key masked when `masked`; run once on one thread and once on the pool, the outputs are compared.
import { FavorAttention } from '../../src/index.ts';
import { randn } from './data.ts';

export interface ThreadCase {
  batch: number; heads: number; queries: number; keys: number; dim: number; valueDim: number;
  causal: boolean; kernel: string; masked?: boolean; window?: number;
}

export function runThreadCase(c: ThreadCase): Float32Array {
  const bh = c.batch * c.heads;
  const q = randn(bh * c.queries * c.dim, 1, 0.5);
  const k = randn(bh * c.keys * c.dim, 2, 0.5);
  const v = randn(bh * c.keys * c.valueDim, 3);
  const keyMask = c.masked ? new Uint8Array(c.batch * c.keys).map((_, i) => (i % 7 === 3 ? 0 : 1)) : undefined;
  const attn = new FavorAttention({ dim: c.dim, features: 40, kernel: c.kernel as never, causal: c.causal, seed: 4, chunkSize: 64, window: c.window });
  const { batch, heads, queries, keys, dim, valueDim } = c;
  return attn.forward(q, k, v, { batch, heads, queries, keys, dim, valueDim }, { keyMask });
}
