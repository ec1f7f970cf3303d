// USE-lite (scripts/use-lite/model.ts) with every head's attention replaced: the same float64 forward pass, but
// each head's softmax(q·kᵀ/√dh)·v comes from `attend` (for example FavorAttention in float32). model.ts's
// `forward` has no hook for it and belongs to another file's owner: this is its layer loop with one: the
// only difference is the `attend(…)` call where forward calls softmaxAttention (a one-line change to
// model.ts would make this file unnecessary: `forward(model, ids, attend = softmaxAttention)`).
import { MAX_TOKENS, type UseLite } from './use-lite/model.ts';

/** One head's attention: q, k, v [n, dh] (q before the 1/√dh scale) → [n, dh]; layer and head say which. */
export type Attend = (q: Float64Array, k: Float64Array, v: Float64Array, n: number, dh: number, layer: number, head: number) => ArrayLike<number>;

function dense(x: Float64Array, n: number, w: Float32Array, bias: Float32Array): Float64Array {
  const cols = bias.length;
  const rows = w.length / cols;
  const y = new Float64Array(n * cols);
  for (let i = 0; i < n; i++) {
    const yi = y.subarray(i * cols, (i + 1) * cols);
    yi.set(bias);
    for (let r = 0; r < rows; r++) {
      const a = x[i * rows + r];
      if (a !== 0) for (let c = 0; c < cols; c++) yi[c] += a * w[r * cols + c];
    }
  }
  return y;
}

function layerNorm(x: Float64Array, n: number, [scale, bias]: [Float32Array, Float32Array]): Float64Array {
  const d = scale.length;
  const y = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    const row = x.subarray(i * d, (i + 1) * d);
    const mu = row.reduce((a, b) => a + b, 0) / d;
    const r = 1 / Math.sqrt(row.reduce((a, b) => a + (b - mu) ** 2, 0) / d + 1e-6);
    for (let t = 0; t < d; t++) y[i * d + t] = (row[t] - mu) * r * scale[t] + bias[t];
  }
  return y;
}

/** The sentence embedding (unit norm) of token ids, every head through `attend`. */
export function embedWith(model: UseLite, ids: number[], attend: Attend): Float64Array {
  const n = Math.min(ids.length, MAX_TOKENS);
  const half = model.inverseTimescales.length;
  const d0 = 2 * half;
  let x: Float64Array = new Float64Array(n * d0);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < d0; t++) x[i * d0 + t] = 2 * model.embeddings[ids[i] * d0 + t];
    for (let t = 0; t < half; t++) {
      x[i * d0 + t] += Math.sin(i * model.inverseTimescales[t]);
      x[i * d0 + half + t] += Math.cos(i * model.inverseTimescales[t]);
    }
  }
  model.layers.forEach((layer, l) => {
    const dh = layer.headDim;
    const width = layer.heads * dh;
    const qkv = dense(layerNorm(x, n, layer.norm), n, layer.qkv, layer.qkvBias);
    const mixed = new Float64Array(n * width);
    for (let h = 0; h < layer.heads; h++) {
      const part = (from: number) => {
        const y = new Float64Array(n * dh);
        for (let i = 0; i < n; i++) y.set(qkv.subarray(i * 3 * width + from, i * 3 * width + from + dh), i * dh);
        return y;
      };
      const o = attend(part(h * dh), part(width + h * dh), part(2 * width + h * dh), n, dh, l, h);
      for (let i = 0; i < n; i++) for (let t = 0; t < dh; t++) mixed[i * width + h * dh + t] = o[i * dh + t];
    }
    const attended = dense(mixed, n, layer.out, layer.outBias);
    const residual = layer.residual ? dense(x, n, ...layer.residual) : x;
    for (let i = 0; i < attended.length; i++) attended[i] += residual[i];
    x = attended;
    const hidden = dense(layerNorm(x, n, layer.ffnNorm), n, layer.ffn1, layer.ffn1Bias).map((a) => Math.max(a, 0));
    const ffn = dense(hidden, n, layer.ffn2, layer.ffn2Bias);
    for (let i = 0; i < x.length; i++) x[i] += ffn[i];
  });
  const d = x.length / n;
  const pooled = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) pooled[t] += x[i * d + t] / n;
  const embedding = dense(pooled, 1, ...model.tanh).map(Math.tanh);
  const norm = Math.sqrt(Math.max(embedding.reduce((a, b) => a + b * b, 0), 1e-12));
  return embedding.map((e) => e / norm);
}
