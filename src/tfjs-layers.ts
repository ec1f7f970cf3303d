// performer-wasm/tfjs-layers: a MultiHeadAttention layer for TensorFlow.js (Keras's interface and weights)
// whose attention is exact softmax, FAVOR+ or hybrid, and performerize, which switches a trained model's
// attention layers to FAVOR+ with feature maps fitted per head. Peer dependencies: @tensorflow/tfjs-core and
// @tensorflow/tfjs-layers (both in @tensorflow/tfjs). Import 'performer-wasm' and call init() (or initSync())
// before the first layer is built.
//
// Importing this module registers the layer with tfjs's serialization under 'MultiHeadAttention' (replacing
// tfjs-layers' own, unexported, einsum-based class: model.json files that name Keras's layer load as this one)
// and under 'PerformerAttention'.
import * as tf from '@tensorflow/tfjs-core';
import { MultiHeadAttention, PerformerAttention } from './tfjs-layers/multi-head-attention.ts';

tf.serialization.registerClass(MultiHeadAttention);
tf.serialization.registerClass(PerformerAttention);

export { MultiHeadAttention, PerformerAttention, type AttentionCallArgs } from './tfjs-layers/multi-head-attention.ts';
export type { AttentionMode, MultiHeadAttentionArgs } from './tfjs-layers/options.ts';
export { performerize, type HeadReport, type LayerReport, type PerformerizeOptions, type PerformerizeProgress, type PerformerizeReport, type SampleInput } from './tfjs-layers/performerize.ts';
