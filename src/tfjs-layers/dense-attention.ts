// Softmax attention written with tfjs ops (matMul, softmax) with Keras's semantics: the query scaled by 1/√K,
// a 0/1 float mask [B, T, S] (or broadcastable to it) applied as Keras's Softmax layer applies it (−1e9 added to the
// masked logits, so that a row with every key masked gets near-uniform weights rather than zeros), dropout on
// the weights in training. It forms the T × S weights: the layer uses it only where the kernels cannot
// (attention scores asked for, a general mask, dropout in training) and as the baseline of the benchmark.
import * as tf from '@tensorflow/tfjs-core';

const MASKED_LOGIT = -1e9;

/** q [B, H, T, K], k [B, H, S, K], v [B, H, S, V] → [output [B, H, T, V], weights [B, H, T, S]]. */
export function denseAttention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, mask?: tf.Tensor, dropout = 0): [tf.Tensor4D, tf.Tensor4D] {
  return tf.tidy(() => {
    const scaled = tf.mul(q, 1 / Math.sqrt(q.shape[3]!));
    let logits = tf.matMul(scaled, k, false, true);
    if (mask) logits = tf.add(logits, tf.mul(tf.sub(1, tf.expandDims(mask, 1)), MASKED_LOGIT));
    const weights = tf.softmax(logits) as tf.Tensor4D;
    const dropped = dropout > 0 ? tf.dropout(weights, dropout) : weights;
    return [tf.matMul(dropped, v) as tf.Tensor4D, weights];
  });
}
