// The attention shape: [batch, heads, seq, dim] row-major layout, and the buffer lengths it implies.
import { PerformerError } from './errors.ts';
import { checkOptions, checkSize, describe } from './validate.ts';

/**
 * The sizes of one call. Buffers are row-major Float32Arrays: q [batch, heads, queries, dim], k [batch, heads,
 * keys, dim], v [batch, heads, keys, valueDim]; the result is [batch, heads, queries, valueDim].
 */
export interface AttentionShape {
  /** Independent sequences. Default 1. */
  batch?: number;
  /** Attention heads per sequence (each head has its own q, k, v). Default 1. */
  heads?: number;
  /** Query rows per head (the sequence length for self-attention). Required. */
  queries: number;
  /** Key and value rows per head. Default `queries`; another value is cross-attention. */
  keys?: number;
  /** Query/key dimension d per head; for FavorAttention it must equal the instance's `dim`. Required. */
  dim: number;
  /** Value (and output) dimension per head. Default `dim`. */
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
  if (shape === undefined || shape === null) {
    throw new PerformerError('INVALID_TYPE', `${fn}: the shape is missing (${describe(shape)}): pass { batch?, heads?, queries, keys?, dim, valueDim? }`);
  }
  const s = checkOptions<AttentionShape>(fn, shape, SHAPE_KEYS, 'shape');
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

/**
 * How the length of q, k, v or out (dOut) follows from the shape, with its numbers, for INVALID_LENGTH
 * messages: 'batch·heads·queries·dim = 1·8·16·64' (batch and heads default to 1, keys to queries, valueDim to dim).
 */
export function lengthRule(s: ResolvedShape, buffer: 'q' | 'k' | 'v' | 'out'): string {
  const [rows, cols] = ({ q: ['queries', 'dim'], k: ['keys', 'dim'], v: ['keys', 'valueDim'], out: ['queries', 'valueDim'] } as const)[buffer];
  return `batch·heads·${rows}·${cols} = ${s.batch}·${s.heads}·${s[rows]}·${s[cols]}`;
}
