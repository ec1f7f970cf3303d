// A hook that sees each attention call's projected inputs (performerize records them to fit feature maps).
// Kept off the layer's public surface: a WeakMap from layer to callback.
import type * as tf from '@tensorflow/tfjs-core';

export interface ProjectedCall {
  /** [B, H, T, K], [B, H, S, K], [B, H, S, V]: valid only during the callback. */
  q: tf.Tensor4D;
  k: tf.Tensor4D;
  v: tf.Tensor4D;
  /** The key padding mask [B·S] (1 = keep) of the call, if any. */
  keyMask?: Uint8Array;
  causal: boolean;
}

export const recorders = new WeakMap<object, (call: ProjectedCall) => void>();
