// performer-wasm/tfjs: FAVOR+ and exact attention as TensorFlow.js ops with gradients, so that a tfjs
// model trains through them. @tensorflow/tfjs-core is an optional peer dependency, imported here only.
//
// Each op is a tf.customGrad: the forward pass reads q, k, v with dataSync() into Float32Arrays, runs
// the wasm kernels (FavorAttention.forward / exactAttention) and wraps the result in a new tensor; the
// gradient reads the upstream gradient dy the same way and returns the tensors of FavorAttention.backward
// / exactAttentionBackward. The cost of crossing over: on the CPU backend dataSync() hands over the
// tensor's own array (no copy) and tf.tensor() keeps ours, so what remains is the copy into wasm memory
// the kernels make anyway (≈ 0.16 ms per 4 MiB); the wasm backend copies each tensor out of and back
// into its own memory (a memcpy each way); WebGL / WebGPU read every input back from the GPU
// synchronously (a pipeline stall) and upload the result. Tensors are float32, [batch, heads, seq, dim].
// Import 'performer-wasm' and call init() (or initSync()) before the first op.
import * as tf from '@tensorflow/tfjs-core';
import { FavorAttention } from './favor/attention.ts';
import type { FavorAttentionOptions } from './favor/options.ts';
import { PerformerError } from './arguments/errors.ts';
import { exactAttention as exactForward } from './exact/exact.ts';
import { exactAttentionBackward } from './exact/exact-backward.ts';
import type { AttentionShape } from './arguments/shapes.ts';
import { checkOptions, describe } from './arguments/validate.ts';

/** A key padding mask: batch × keys, nonzero = keep. A tensor [batch, keys] (any dtype) is read with dataSync(). */
export type KeyMask = Uint8Array | tf.Tensor;

/** FavorAttention's options, with `dim` optional (default: the last dimension of q). */
export type FavorOpConfig = Omit<FavorAttentionOptions, 'dim'> & { dim?: number };

export interface FavorOpOptions {
  keyMask?: KeyMask;
  /**
   * The projection as a float32 tensor [m, dim] (W acting on x̂ = x·d^(-1/4) for the softmax kernels), an
   * input of the op differentiable like q, k, v (a tf.Variable trains it: learned feature maps,
   * docs/learned-feature-maps.md). It replaces the instance's projection for this call; the kernel,
   * causal, epsilon and chunk size stay the instance's.
   */
  projection?: tf.Tensor;
}

export interface ExactOpOptions {
  /** Query i sees keys j ≤ i + (keys − queries), as in exactAttention. Default false. */
  causal?: boolean;
  keyMask?: KeyMask;
}

/**
 * FAVOR+ attention of q [batch, heads, queries, dim], k [batch, heads, keys, dim], v [batch, heads, keys,
 * valueDim] (float32 tensors) → [batch, heads, queries, valueDim], differentiable in q, k and v.
 * `attention`: a FavorAttention (its projection, kernel and `causal` are used as they are when the op
 * runs and when its gradient runs: do not redraw() in between), or its options, from which one instance
 * per distinct configuration is made and kept (`dim` defaults to q's last dimension).
 * The gradient is FavorAttention.backward: the projection and the stabilizers are constants.
 */
export function favorAttention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, attention: FavorAttention | FavorOpConfig,
                               options?: FavorOpOptions): tf.Tensor4D {
  const fn = 'favorAttention';
  const s = shapeOf(fn, q, k, v);
  const attn = attention instanceof FavorAttention ? attention : instanceFor(attention, s.dim);
  const o = checkOptions<FavorOpOptions>(fn, options, ['keyMask', 'projection']);
  const keyMask = maskOf(o.keyMask);
  if (o.projection !== undefined) return favorWithProjection(q, k, v, attn, checkProjection(fn, o.projection, s.dim), s, keyMask);
  const op = tf.customGrad((qt, kt, vt) => {
    const [qa, ka, va] = [read(qt as tf.Tensor), read(kt as tf.Tensor), read(vt as tf.Tensor)];
    const out = attn.forward(qa, ka, va, s, { keyMask });
    return {
      value: tf.tensor4d(out, outShape(s), 'float32'),
      gradFunc: (dy) => {
        const g = attn.backward(qa, ka, va, read(dy as tf.Tensor), s, { keyMask });
        return [tf.tensor(g.dq, q.shape, 'float32'), tf.tensor(g.dk, k.shape, 'float32'), tf.tensor(g.dv, v.shape, 'float32')];
      },
    };
  });
  return op(q, k, v) as tf.Tensor4D;
}

/** favorAttention with the projection as a fourth input: the gradient also returns dW (backward's projectionGradient). */
function favorWithProjection(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, base: FavorAttention, w: tf.Tensor, s: Shape,
                             keyMask: Uint8Array | undefined): tf.Tensor4D {
  const op = tf.customGrad((qt, kt, vt, wt) => {
    const [qa, ka, va] = [read(qt as tf.Tensor), read(kt as tf.Tensor), read(vt as tf.Tensor)];
    const attn = base.withProjection(read(wt as tf.Tensor));
    const out = attn.forward(qa, ka, va, s, { keyMask });
    return {
      value: tf.tensor4d(out, outShape(s), 'float32'),
      gradFunc: (dy) => {
        const g = attn.backward(qa, ka, va, read(dy as tf.Tensor), s, { keyMask, projectionGradient: true });
        return [tf.tensor(g.dq, q.shape, 'float32'), tf.tensor(g.dk, k.shape, 'float32'), tf.tensor(g.dv, v.shape, 'float32'),
                tf.tensor(g.dW!, w.shape, 'float32')];
      },
    };
  });
  return op(q, k, v, w) as tf.Tensor4D;
}

function checkProjection(fn: string, w: unknown, dim: number): tf.Tensor {
  if (!(w instanceof tf.Tensor)) throw new PerformerError('INVALID_TYPE', `${fn}: projection must be a tf.Tensor [m, dim], got ${describe(w)}`);
  if (w.dtype !== 'float32') throw new PerformerError('INVALID_TYPE', `${fn}: projection must be float32, got ${w.dtype}`);
  if (w.rank !== 2 || w.shape[1] !== dim || w.shape[0] < 1) {
    throw new PerformerError('INVALID_LENGTH', `${fn}: projection must have shape [m, ${dim}], got [${w.shape}]`);
  }
  return w;
}

/**
 * Exact softmax attention softmax(Q·Kᵀ/√d)·V on tensors (shapes as in favorAttention), differentiable in
 * q, k and v; the gradient is exactAttentionBackward (tiled, O(L) memory, like the forward pass).
 */
export function exactAttention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, options?: ExactOpOptions): tf.Tensor4D {
  const fn = 'exactAttention';
  const s = shapeOf(fn, q, k, v);
  const o = checkOptions<ExactOpOptions>(fn, options, ['causal', 'keyMask']);
  const keyMask = maskOf(o.keyMask);
  const causal = o.causal;
  const op = tf.customGrad((qt, kt, vt) => {
    const [qa, ka, va] = [read(qt as tf.Tensor), read(kt as tf.Tensor), read(vt as tf.Tensor)];
    const out = exactForward(qa, ka, va, s, { causal, keyMask });
    return {
      value: tf.tensor4d(out, outShape(s), 'float32'),
      gradFunc: (dy) => {
        const g = exactAttentionBackward(qa, ka, va, read(dy as tf.Tensor), s, { causal, keyMask });
        return [tf.tensor(g.dq, q.shape, 'float32'), tf.tensor(g.dk, k.shape, 'float32'), tf.tensor(g.dv, v.shape, 'float32')];
      },
    };
  });
  return op(q, k, v) as tf.Tensor4D;
}

// ---------------------------------------------------------------- helpers

type Shape = Required<AttentionShape>;

function shapeOf(fn: string, q: unknown, k: unknown, v: unknown): Shape {
  const [qs, ks, vs] = [checkTensor(fn, 'q', q), checkTensor(fn, 'k', k), checkTensor(fn, 'v', v)];
  const [batch, heads, queries, dim] = qs;
  const keys = ks[2];
  const valueDim = vs[3];
  if (ks[0] !== batch || ks[1] !== heads || ks[3] !== dim) {
    throw new PerformerError('INVALID_LENGTH', `${fn}: k has shape [${ks}], expected [${batch}, ${heads}, keys, ${dim}] to match q [${qs}]`);
  }
  if (vs[0] !== batch || vs[1] !== heads || vs[2] !== keys) {
    throw new PerformerError('INVALID_LENGTH', `${fn}: v has shape [${vs}], expected [${batch}, ${heads}, ${keys}, valueDim] to match k [${ks}]`);
  }
  return { batch, heads, queries, keys, dim, valueDim };
}

function checkTensor(fn: string, name: string, t: unknown): number[] {
  if (!(t instanceof tf.Tensor)) throw new PerformerError('INVALID_TYPE', `${fn}: ${name} must be a tf.Tensor, got ${describe(t)}`);
  if (t.dtype !== 'float32') throw new PerformerError('INVALID_TYPE', `${fn}: ${name} must be float32, got ${t.dtype} (cast it with tf.cast)`);
  if (t.rank !== 4) throw new PerformerError('INVALID_LENGTH', `${fn}: ${name} must have rank 4 [batch, heads, seq, dim], got shape [${t.shape}]`);
  return t.shape;
}

const outShape = (s: Shape): [number, number, number, number] => [s.batch, s.heads, s.queries, s.valueDim];

/** The tensor's values as a Float32Array (the backend's own array on the CPU backend: read, never written). */
function read(t: tf.Tensor): Float32Array {
  const data = t.dataSync();
  return data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
}

function maskOf(mask: unknown): Uint8Array | undefined {
  if (mask instanceof tf.Tensor) {
    if (mask.rank !== 2) throw new PerformerError('INVALID_LENGTH', `keyMask must be a [batch, keys] tensor, got shape [${mask.shape}]`);
    return Uint8Array.from(mask.dataSync() as ArrayLike<number>, (x) => (x !== 0 ? 1 : 0));
  }
  return mask as Uint8Array | undefined; // anything else is checked (type, length) by the kernels
}

/** One FavorAttention per distinct configuration (not for explicit projections: those are made on every call). */
const instances = new Map<string, FavorAttention>();
const MAX_INSTANCES = 64;

function instanceFor(config: FavorOpConfig, qDim: number): FavorAttention {
  if (config === null || typeof config !== 'object') {
    throw new PerformerError('INVALID_TYPE', `favorAttention: attention must be a FavorAttention or its options, got ${describe(config)}`);
  }
  const options = { ...config, dim: config.dim ?? qDim } as FavorAttentionOptions;
  if (typeof options.projection === 'object') return new FavorAttention(options); // copies the matrix as it is now
  const key = JSON.stringify(Object.entries(options).sort(([a], [b]) => (a < b ? -1 : 1)));
  let attn = instances.get(key);
  if (!attn) {
    attn = new FavorAttention(options); // validates the options (PerformerError)
    if (instances.size >= MAX_INSTANCES) instances.delete(instances.keys().next().value!);
    instances.set(key, attn);
  }
  return attn;
}
