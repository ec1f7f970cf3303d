// The head projections of multi-head attention with tfjs ops that every backend has (matMul, reshape,
// transpose; Keras's layer uses einsum, which tfjs-backend-wasm lacks): x [B, T, D] · kernel [D, H, K] + bias
// [H, K] → [B, H, T, K], the layout of the attention ops; and back: [B, H, T, V] · kernel [H, V, …O] + bias [O]
// → [B, T, …O].
import * as tf from '@tensorflow/tfjs-core';

/** x [B, T, D] → [B, H, T, K] with kernel [D, H, K] and an optional bias [H, K]. */
export function splitHeads(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | null): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, T, D] = x.shape;
    const [, H, K] = kernel.shape;
    let y = tf.matMul(tf.reshape(x, [B * T, D]), tf.reshape(kernel, [D, H * K]));
    if (bias) y = tf.add(y, tf.reshape(bias, [H * K]));
    return tf.transpose(tf.reshape(y, [B, T, H, K]), [0, 2, 1, 3]) as tf.Tensor4D;
  });
}

/** heads [B, H, T, V] → [B, T, …O] with kernel [H, V, …O] and an optional bias [O…]. */
export function mergeHeads(heads: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | null): tf.Tensor {
  return tf.tidy(() => {
    const [B, H, T, V] = heads.shape;
    const out = kernel.shape.slice(2);
    const width = out.reduce((a, b) => a * b, 1);
    const merged = tf.reshape(tf.transpose(heads, [0, 2, 1, 3]), [B * T, H * V]);
    let y = tf.matMul(merged, tf.reshape(kernel, [H * V, width]));
    if (bias) y = tf.add(y, tf.reshape(bias, [width]));
    return tf.reshape(y, [B, T, ...out]);
  });
}
