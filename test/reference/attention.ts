// Float64 reference of exact softmax attention, written for clarity and not speed: the oracle that the
// wasm kernels (exact and FAVOR+) are tested against. Layout [batch, heads, seq, dim], row-major, as in
// the public API.
//
//   out[b,h,i] = Σ_j w_j v[b,h,j] / Σ_j w_j,   w_j = exp(scale·q[b,h,i]·k[b,h,j] − max)   over visible j,
//
// where key j is visible to query i when keyMask[b·keys + j] ≠ 0 (if a mask is given) and, if causal,
// j ≤ i + (keys − queries) (bottom-right aligned, as with a key cache). A query that sees no key gets zeros.

export interface ReferenceShape {
  batch?: number;
  heads?: number;
  queries: number;
  keys?: number;
  dim: number;
  valueDim?: number;
}

export interface ReferenceOptions {
  causal?: boolean;
  /** batch × keys bytes, nonzero = keep. */
  keyMask?: Uint8Array;
  /** Multiplies q·k; default 1/√dim. */
  scale?: number;
}

interface Dims {
  batch: number;
  heads: number;
  Lq: number;
  Lk: number;
  d: number;
  dv: number;
}

function dims(shape: ReferenceShape): Dims {
  return {
    batch: shape.batch ?? 1,
    heads: shape.heads ?? 1,
    Lq: shape.queries,
    Lk: shape.keys ?? shape.queries,
    d: shape.dim,
    dv: shape.valueDim ?? shape.dim,
  };
}

/** One query row (batch b, head h, query i) of exact attention in float64: dv numbers. */
export function referenceAttentionRow(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, shape: ReferenceShape,
                                      options: ReferenceOptions, b: number, h: number, i: number): Float64Array {
  const { heads, Lq, Lk, d, dv } = dims(shape);
  const scale = options.scale ?? 1 / Math.sqrt(d);
  const head = b * heads + h;
  const qo = (head * Lq + i) * d;
  const last = options.causal ? Math.min(Lk - 1, i + Lk - Lq) : Lk - 1;
  const mask = options.keyMask;
  const scores = new Float64Array(Math.max(last + 1, 0));
  const visible = new Uint8Array(scores.length);
  let max = -Infinity;
  for (let j = 0; j <= last; j++) {
    if (mask && mask[b * Lk + j] === 0) continue;
    const ko = (head * Lk + j) * d;
    let s = 0;
    for (let t = 0; t < d; t++) s += q[qo + t] * k[ko + t];
    scores[j] = s * scale;
    visible[j] = 1;
    if (scores[j] > max) max = scores[j];
  }
  const out = new Float64Array(dv);
  let sum = 0;
  for (let j = 0; j <= last; j++) {
    if (!visible[j]) continue;
    const w = Math.exp(scores[j] - max);
    sum += w;
    const vo = (head * Lk + j) * dv;
    for (let c = 0; c < dv; c++) out[c] += w * v[vo + c];
  }
  if (sum > 0) for (let c = 0; c < dv; c++) out[c] /= sum;
  return out;
}

/** Exact attention in float64 for every (batch, head, query): [batch, heads, queries, valueDim]. */
export function referenceAttention(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, shape: ReferenceShape,
                                   options: ReferenceOptions = {}): Float64Array {
  const { batch, heads, Lq, dv } = dims(shape);
  const out = new Float64Array(batch * heads * Lq * dv);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < Lq; i++) {
        out.set(referenceAttentionRow(q, k, v, shape, options, b, h, i), ((b * heads + h) * Lq + i) * dv);
      }
    }
  }
  return out;
}
