// The attention shape: [batch, heads, seq, dim] row-major layout, and the buffer lengths it implies.
import { checkOptions, checkSize } from './validate.ts';

export interface AttentionShape {
  batch?: number;
  heads?: number;
  queries: number;
  /** Defaults to `queries`. */
  keys?: number;
  dim: number;
  /** Defaults to `dim`. */
  valueDim?: number;
}

export interface ResolvedShape {
  batch: number;
  heads: number;
  queries: number;
  keys: number;
  dim: number;
  valueDim: number;
  /** Lengths of q [b,h,Lq,d], k [b,h,Lk,d], v [b,h,Lk,dv] and out [b,h,Lq,dv]. */
  qLength: number;
  kLength: number;
  vLength: number;
  outLength: number;
}

const SHAPE_KEYS = ['batch', 'heads', 'queries', 'keys', 'dim', 'valueDim'] as const;

export function resolveShape(fn: string, shape: unknown): ResolvedShape {
  const s = checkOptions<AttentionShape>(`${fn} shape`, shape ?? null, SHAPE_KEYS);
  // only undefined means "the default": null or any other value is checked as a size
  const batch = checkSize('shape.batch', s.batch === undefined ? 1 : s.batch);
  const heads = checkSize('shape.heads', s.heads === undefined ? 1 : s.heads);
  const queries = checkSize('shape.queries', s.queries);
  const keys = checkSize('shape.keys', s.keys === undefined ? queries : s.keys);
  const dim = checkSize('shape.dim', s.dim);
  const valueDim = checkSize('shape.valueDim', s.valueDim === undefined ? dim : s.valueDim);
  const bh = batch * heads;
  const lengths = {
    qLength: checkSize('batch·heads·queries·dim', bh * queries * dim),
    kLength: checkSize('batch·heads·keys·dim', bh * keys * dim),
    vLength: checkSize('batch·heads·keys·valueDim', bh * keys * valueDim),
    outLength: checkSize('batch·heads·queries·valueDim', bh * queries * valueDim),
  };
  return { batch, heads, queries, keys, dim, valueDim, ...lengths };
}
