// Float64 reference of Keras's MultiHeadAttention (keras.layers.MultiHeadAttention, inputs [batch, seq, dim],
// attention over the sequence axis), written for clarity and not speed:
//   q = query·Wq + bq   (Wq [D, H, K], bq [H, K]), k = key·Wk + bk, v = value·Wv + bv   (Wv [Dv, H, V])
//   weights[b,h,i,:] = softmax_j(q[b,i,h]·k[b,j,h]/√K + (mask[b,i,j] ? 0 : −1e9))
//   out[b,i,:] = Σ_h Σ_j weights[b,h,i,j]·v[b,j,h] · Wo[h] + bo   (Wo [H, V, O])
// mask: Keras's merged mask [B, T, S] (attention mask ∧ causal j ≤ i ∧ padding), 1 = attend.

export interface KerasWeights {
  queryKernel: ArrayLike<number>; queryBias?: ArrayLike<number>;
  keyKernel: ArrayLike<number>; keyBias?: ArrayLike<number>;
  valueKernel: ArrayLike<number>; valueBias?: ArrayLike<number>;
  outputKernel: ArrayLike<number>; outputBias?: ArrayLike<number>;
}

export interface KerasShape { batch: number; queries: number; keys: number; queryDim: number; keyInDim: number; valueInDim: number; heads: number; keyDim: number; valueDim: number; outDim: number }

/** x [B, L, D] · W [D, H, E] + b [H, E] → [B, L, H, E] in float64. */
function project(x: ArrayLike<number>, B: number, L: number, D: number, w: ArrayLike<number>, b: ArrayLike<number> | undefined, HE: number): Float64Array {
  const y = new Float64Array(B * L * HE);
  for (let r = 0; r < B * L; r++) {
    for (let c = 0; c < HE; c++) {
      let s = b ? b[c] : 0;
      for (let t = 0; t < D; t++) s += x[r * D + t] * w[t * HE + c];
      y[r * HE + c] = s;
    }
  }
  return y;
}

/** The layer's output [B, T, O] and the attention weights [B, H, T, S]. */
export function kerasMultiHeadAttention(query: ArrayLike<number>, value: ArrayLike<number>, key: ArrayLike<number>, w: KerasWeights, s: KerasShape,
                                        mask?: ArrayLike<number>): { output: Float64Array; weights: Float64Array } {
  const { batch: B, queries: T, keys: S, heads: H, keyDim: K, valueDim: V, outDim: O } = s;
  const q = project(query, B, T, s.queryDim, w.queryKernel, w.queryBias, H * K);
  const k = project(key, B, S, s.keyInDim, w.keyKernel, w.keyBias, H * K);
  const v = project(value, B, S, s.valueInDim, w.valueKernel, w.valueBias, H * V);
  const weights = new Float64Array(B * H * T * S);
  const mixed = new Float64Array(B * T * H * V);
  const logits = new Float64Array(S);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < T; i++) {
        let max = -Infinity;
        for (let j = 0; j < S; j++) {
          let dot = 0;
          for (let t = 0; t < K; t++) dot += q[((b * T + i) * H + h) * K + t] * k[((b * S + j) * H + h) * K + t];
          logits[j] = dot / Math.sqrt(K) + (mask && !mask[(b * T + i) * S + j] ? -1e9 : 0);
          max = Math.max(max, logits[j]);
        }
        let sum = 0;
        for (let j = 0; j < S; j++) sum += (logits[j] = Math.exp(logits[j] - max));
        for (let j = 0; j < S; j++) {
          const p = logits[j] / sum;
          weights[((b * H + h) * T + i) * S + j] = p;
          for (let t = 0; t < V; t++) mixed[((b * T + i) * H + h) * V + t] += p * v[((b * S + j) * H + h) * V + t];
        }
      }
    }
  }
  const output = project(mixed, B, T, H * V, w.outputKernel, w.outputBias, O);
  return { output, weights };
}

/** Keras's causal mask ∧ an optional [B, T, S] mask: query i attends to keys j ≤ i (top-left aligned). */
export function kerasCausalMask(B: number, T: number, S: number, mask?: ArrayLike<number>): Uint8Array {
  const m = new Uint8Array(B * T * S);
  for (let b = 0; b < B; b++) for (let i = 0; i < T; i++) for (let j = 0; j < S; j++) {
    const at = (b * T + i) * S + j;
    m[at] = j <= i && (!mask || mask[at]) ? 1 : 0;
  }
  return m;
}
