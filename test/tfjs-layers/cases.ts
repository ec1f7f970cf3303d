// Layers with known weights and inputs for the tests: a MultiHeadAttention built for a shape, its Keras weights
// set from seeded normals, and the same weights as Float32Arrays for the float64 reference.
import * as tf from '@tensorflow/tfjs';
import { MultiHeadAttention, type MultiHeadAttentionArgs } from '../../src/tfjs-layers.ts';
import type { KerasShape, KerasWeights } from '../reference/keras-mha.ts';
import { randn } from '../support/data.ts';

export interface LayerCase {
  B: number; T: number; S: number; D: number; Dk?: number; Dv?: number; H: number; K: number; V?: number;
  outputShape?: number | number[]; useBias?: boolean;
}

export function shapeOf(c: LayerCase): KerasShape {
  const out = c.outputShape === undefined ? [c.D] : Array.isArray(c.outputShape) ? c.outputShape : [c.outputShape];
  return { batch: c.B, queries: c.T, keys: c.S, queryDim: c.D, keyInDim: c.Dk ?? c.Dv ?? c.D, valueInDim: c.Dv ?? c.D, heads: c.H, keyDim: c.K,
           valueDim: c.V ?? c.K, outDim: out.reduce((a, b) => a * b, 1) };
}

export interface Built {
  layer: MultiHeadAttention;
  query: Float32Array; value: Float32Array; key: Float32Array;
  tensors: { query: tf.Tensor3D; value: tf.Tensor3D; key: tf.Tensor3D };
  weights: KerasWeights;
  shape: KerasShape;
}

/** The layer for case `c` (extra args: attention mode, …), built with seeded weights (scaled so that the softmax is not flat). */
export function buildCase(c: LayerCase, seed: number, extra: Partial<MultiHeadAttentionArgs> = {}): Built {
  const s = shapeOf(c);
  const useBias = c.useBias ?? true;
  const layer = new MultiHeadAttention({ numHeads: c.H, keyDim: c.K, valueDim: c.V, outputShape: c.outputShape, useBias, ...extra });
  const query = randn(s.batch * s.queries * s.queryDim, seed);
  const value = randn(s.batch * s.keys * s.valueInDim, seed + 1);
  const key = c.Dk === undefined ? value : randn(s.batch * s.keys * s.keyInDim, seed + 2);
  layer.buildFromSignature([null, s.queries, s.queryDim], [null, s.keys, s.valueInDim], [null, s.keys, s.keyInDim]);
  const scale = (n: number, fan: number, i: number) => randn(n, seed + 10 + i, 1 / Math.sqrt(fan) * 1.5);
  const weights: KerasWeights = {
    queryKernel: scale(s.queryDim * s.heads * s.keyDim, s.queryDim, 0), queryBias: useBias ? scale(s.heads * s.keyDim, 4, 1) : undefined,
    keyKernel: scale(s.keyInDim * s.heads * s.keyDim, s.keyInDim, 2), keyBias: useBias ? scale(s.heads * s.keyDim, 4, 3) : undefined,
    valueKernel: scale(s.valueInDim * s.heads * s.valueDim, s.valueInDim, 4), valueBias: useBias ? scale(s.heads * s.valueDim, 4, 5) : undefined,
    outputKernel: scale(s.heads * s.valueDim * s.outDim, s.heads * s.valueDim, 6), outputBias: useBias ? scale(s.outDim, 4, 7) : undefined,
  };
  const kerasOrder = [weights.queryKernel, weights.queryBias, weights.keyKernel, weights.keyBias, weights.valueKernel, weights.valueBias,
    weights.outputKernel, weights.outputBias].filter((w) => w !== undefined) as Float32Array[];
  const current = layer.getWeights();
  layer.setWeights(current.map((t, i) => (i < kerasOrder.length ? tf.tensor(kerasOrder[i], t.shape) : t)));
  const tensors = {
    query: tf.tensor3d(query, [s.batch, s.queries, s.queryDim]),
    value: tf.tensor3d(value, [s.batch, s.keys, s.valueInDim]),
    key: tf.tensor3d(key, [s.batch, s.keys, s.keyInDim]),
  };
  return { layer, query, value, key, tensors, weights, shape: s };
}
