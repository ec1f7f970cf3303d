// performer-wasm/tfjs: the ops' gradients are the package's backward passes (bit for bit), they match
// tf.grad of FAVOR+ and of softmax attention composed from tfjs ops, and a tfjs model trains through them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import * as tf from '@tensorflow/tfjs'; // tfjs-core with its gradients registered, and the CPU backend
import { exactAttention as exactArrays, exactAttentionBackward, FavorAttention, PerformerError, type KernelName } from '../../src/index.ts';
import { KERNEL_NAMES } from '../../src/feature-maps/kernels.ts';
import { exactAttention, favorAttention } from '../../src/tfjs.ts';
import { train } from '../../examples/train-copy.ts';
import { attentionInputs } from '../support/data.ts';

tf.enableProdMode(); // no hint to install tfjs-node
await tf.setBackend('cpu');

type Shape = { batch: number; heads: number; queries: number; keys: number; dim: number; valueDim: number };

const inputs = attentionInputs;

function tensors(s: Shape, a: ReturnType<typeof inputs>) {
  return {
    q: tf.tensor4d(a.q, [s.batch, s.heads, s.queries, s.dim]),
    k: tf.tensor4d(a.k, [s.batch, s.heads, s.keys, s.dim]),
    v: tf.tensor4d(a.v, [s.batch, s.heads, s.keys, s.valueDim]),
    dy: tf.tensor4d(a.dOut, [s.batch, s.heads, s.queries, s.valueDim]),
  };
}

const maskOf = (s: Shape) => new Uint8Array(s.batch * s.keys).map((_, i) => (i % 3 === 1 ? 0 : 1));

const sameBits = (a: Float32Array, b: Float32Array) => a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

/** ‖a − b‖ over the three gradients together, relative to ‖b‖ (all three): a tiny tensor has no relative error of its own. */
function gradError(a: tf.Tensor[], b: tf.Tensor[]): number {
  let num = 0;
  let den = 0;
  a.forEach((t, i) => {
    const [x, y] = [t.dataSync(), b[i].dataSync()];
    for (let j = 0; j < y.length; j++) {
      num += (x[j] - y[j]) ** 2;
      den += y[j] ** 2;
    }
  });
  return Math.sqrt(num / den);
}

const cross: Shape = { batch: 2, heads: 3, queries: 7, keys: 9, dim: 5, valueDim: 3 };
const self: Shape = { batch: 2, heads: 2, queries: 11, keys: 11, dim: 6, valueDim: 4 };

test('favorAttention: forward and gradients are FavorAttention.forward / backward, bit for bit (every kernel; masked, causal)', () => {
  for (const kernel of KERNEL_NAMES) {
    for (const [s, causal, masked] of [[cross, false, true], [self, true, false], [self, true, true]] as const) {
      const a = inputs(s, 7, kernel === 'softmax-trig' ? 0.2 : 0.5);
      const keyMask = masked ? maskOf(s) : undefined;
      const attn = new FavorAttention({ dim: s.dim, features: 12, kernel: kernel as KernelName, causal, seed: 3 });
      const want = attn.backward(a.q, a.k, a.v, a.dOut, s, { keyMask });
      const t = tensors(s, a);
      const out = favorAttention(t.q, t.k, t.v, attn, { keyMask });
      assert.ok(sameBits(out.dataSync() as Float32Array, attn.forward(a.q, a.k, a.v, s, { keyMask })), `${kernel} forward`);
      const [dq, dk, dv] = tf.grads((q, k, v) => favorAttention(q, k, v, attn, { keyMask }))([t.q, t.k, t.v], t.dy);
      assert.equal(dq.shape, t.q.shape);
      assert.ok(sameBits(dq.dataSync() as Float32Array, want.dq), `${kernel} causal=${causal} dq`);
      assert.ok(sameBits(dk.dataSync() as Float32Array, want.dk), `${kernel} causal=${causal} dk`);
      assert.ok(sameBits(dv.dataSync() as Float32Array, want.dv), `${kernel} causal=${causal} dv`);
      tf.dispose([out, dq, dk, dv, ...Object.values(t)]);
    }
  }
});

test('exactAttention: forward and gradients are exactAttention / exactAttentionBackward, bit for bit', () => {
  for (const [s, causal, masked] of [[cross, false, true], [self, true, false], [cross, true, true]] as const) {
    const a = inputs(s, 21, 1);
    const keyMask = masked ? maskOf(s) : undefined;
    const want = exactAttentionBackward(a.q, a.k, a.v, a.dOut, s, { causal, keyMask });
    const t = tensors(s, a);
    const out = exactAttention(t.q, t.k, t.v, { causal, keyMask });
    assert.ok(sameBits(out.dataSync() as Float32Array, exactArrays(a.q, a.k, a.v, s, { causal, keyMask })));
    const [dq, dk, dv] = tf.grads((q, k, v) => exactAttention(q, k, v, { causal, keyMask }))([t.q, t.k, t.v], t.dy);
    assert.ok(sameBits(dq.dataSync() as Float32Array, want.dq) && sameBits(dk.dataSync() as Float32Array, want.dk) && sameBits(dv.dataSync() as Float32Array, want.dv));
    tf.dispose([out, dq, dk, dv, ...Object.values(t)]);
  }
});

/**
 * FAVOR+ ('softmax' kernel) written with tfjs ops: φ(x) = exp(W·x̂ − ‖x̂‖²/2)/√m with x̂ = x·d^(−1/4);
 * out = φ(Q)(φ(K)ᵀV) / φ(Q)(φ(K)ᵀ1), masked keys dropped from both; causal: tril(φ(Q)φ(K)ᵀ) instead.
 * No stabilizer: it cancels (the package's stabilizers are constants of its gradient, and the output does not
 * depend on them), and with σ = 0.5 no exponent comes near float32's range.
 */
function favorTf(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, w: tf.Tensor2D, causal: boolean, keyMask?: Uint8Array): tf.Tensor {
  const [batch, , , d] = q.shape;
  const m = w.shape[0];
  const phi = (x: tf.Tensor4D) => {
    const xh = tf.mul(x, d ** -0.25);
    const u = tf.reshape(tf.matMul(tf.reshape(xh, [-1, d]), w, false, true), [...x.shape.slice(0, 3), m]);
    const h = tf.div(tf.sum(tf.square(xh), -1, true), 2);
    return tf.div(tf.exp(tf.sub(u, h)), Math.sqrt(m)) as tf.Tensor4D;
  };
  const pq = phi(q);
  let pk = phi(k);
  if (keyMask) pk = tf.mul(pk, tf.tensor4d(Float32Array.from(keyMask), [batch, 1, k.shape[2], 1]));
  if (causal) {
    const [Lq, Lk] = [q.shape[2], k.shape[2]];
    const tril = tf.tensor2d(Float32Array.from({ length: Lq * Lk }, (_, i) => (i % Lk <= Math.floor(i / Lk) ? 1 : 0)), [Lq, Lk]);
    const A = tf.mul(tf.matMul(pq, pk, false, true), tril);
    return tf.div(tf.matMul(A, v), tf.sum(A, -1, true));
  }
  const S = tf.matMul(pk, v, true, false); // [b, h, m, dv]
  const z = tf.sum(pk, 2, true); // [b, h, 1, m]
  return tf.div(tf.matMul(pq, S), tf.sum(tf.mul(pq, z), -1, true));
}

/** softmax(Q·Kᵀ/√d)·V with tfjs ops; masked keys get −∞ logits, causal keys after the query too. */
function exactTf(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, causal: boolean, keyMask?: Uint8Array): tf.Tensor {
  const [batch, , Lq, d] = q.shape;
  const Lk = k.shape[2];
  let logits = tf.div(tf.matMul(q, k, false, true), Math.sqrt(d));
  const keep = new Float32Array(batch * Lq * Lk).map((_, i) => {
    const [b, r, c] = [Math.floor(i / (Lq * Lk)), Math.floor(i / Lk) % Lq, i % Lk];
    return (keyMask && !keyMask[b * Lk + c]) || (causal && c > r + Lk - Lq) ? 0 : 1;
  });
  logits = tf.where(tf.tensor4d(keep, [batch, 1, Lq, Lk]).cast('bool').broadcastTo(logits.shape), logits, tf.fill(logits.shape, -1e30));
  return tf.matMul(tf.softmax(logits), v);
}

// float32 on both sides, through different orders of summation (streamed chunks and a float64 state
// against tfjs's matMuls): measured ≤ 1.6e-7 (forward and gradients); the bound leaves a margin of 10×.
const TF_TOLERANCE = 2e-6;

test(`favorAttention gradients match tf.grads of FAVOR+ composed from tfjs ops (≤ ${TF_TOLERANCE} relative)`, () => {
  for (const [s, causal, masked, chunkSize] of [[cross, false, true, 128], [self, true, false, 4], [self, true, true, 128], [cross, false, false, 3]] as const) {
    const a = inputs(s, 40, 0.5);
    const keyMask = masked ? maskOf(s) : undefined;
    const attn = new FavorAttention({ dim: s.dim, features: 16, causal, seed: 5, chunkSize });
    const w = tf.tensor2d(attn.projection, [16, s.dim]);
    const t = tensors(s, a);
    const ours = tf.grads((q, k, v) => favorAttention(q, k, v, attn, { keyMask }))([t.q, t.k, t.v], t.dy);
    const theirs = tf.grads((q, k, v) => favorTf(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, w, causal, keyMask))([t.q, t.k, t.v], t.dy);
    const forward = gradError([favorAttention(t.q, t.k, t.v, attn, { keyMask })], [favorTf(t.q, t.k, t.v, w, causal, keyMask)]);
    const error = gradError(ours, theirs);
    assert.ok(forward <= TF_TOLERANCE, `forward ${forward}`);
    assert.ok(error <= TF_TOLERANCE, `causal=${causal} masked=${masked}: gradient error ${error}`);
  }
});

test(`exactAttention gradients match tf.grads of softmax attention composed from tfjs ops (≤ ${TF_TOLERANCE} relative)`, () => {
  for (const [s, causal, masked] of [[cross, false, true], [self, true, false], [cross, true, true]] as const) {
    const a = inputs(s, 50, 1);
    const keyMask = masked ? maskOf(s) : undefined;
    const t = tensors(s, a);
    const ours = tf.grads((q, k, v) => exactAttention(q, k, v, { causal, keyMask }))([t.q, t.k, t.v], t.dy);
    const theirs = tf.grads((q, k, v) => exactTf(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, causal, keyMask))([t.q, t.k, t.v], t.dy);
    const error = gradError(ours, theirs);
    assert.ok(error <= TF_TOLERANCE, `causal=${causal} masked=${masked}: gradient error ${error}`);
  }
});

test('favorAttention: options instead of an instance (one instance per configuration), mask tensors, bad input', () => {
  const s = cross;
  const a = inputs(s, 60);
  const t = tensors(s, a);
  const attn = new FavorAttention({ dim: s.dim, features: 8, seed: 9 });
  const want = favorAttention(t.q, t.k, t.v, attn, { keyMask: maskOf(s) }).dataSync();
  const maskTensor = tf.tensor2d(Array.from(maskOf(s), (x) => x * 2), [s.batch, s.keys], 'int32');
  const got = favorAttention(t.q, t.k, t.v, { features: 8, seed: 9 }, { keyMask: maskTensor }).dataSync();
  assert.ok(sameBits(got as Float32Array, want as Float32Array));
  const throwsCode = (fn: () => unknown, code: string) => {
    try {
      fn();
    } catch (error) {
      assert.instance(error, PerformerError);
      assert.is((error as PerformerError).code, code);
      return;
    }
    assert.unreachable(`expected ${code}`);
  };
  throwsCode(() => favorAttention(t.q.cast('int32'), t.k, t.v, attn), 'INVALID_TYPE');
  throwsCode(() => favorAttention(a.q as never, t.k, t.v, attn), 'INVALID_TYPE');
  throwsCode(() => favorAttention(tf.reshape(t.q, [-1, s.dim]), t.k, t.v, attn), 'INVALID_LENGTH');
  throwsCode(() => favorAttention(t.q, t.v, t.v, attn), 'INVALID_LENGTH');
  throwsCode(() => favorAttention(t.q, t.k, t.v, { features: 8, kernel: 'nope' as KernelName }), 'INVALID_OPTION');
  throwsCode(() => favorAttention(t.q, t.k, t.v, attn, { keyMask: new Uint8Array(3) }), 'INVALID_LENGTH');
  throwsCode(() => favorAttention(t.q, t.k, t.v, attn, { causal: true } as never), 'UNKNOWN_OPTION');
  throwsCode(() => exactAttention(t.q, t.k, t.v, { features: 8 } as never), 'UNKNOWN_OPTION');
  tf.dispose([maskTensor, ...Object.values(t)]);
});

test('a one-layer Performer trains through favorAttention (examples/train-copy.ts, 60 steps): mean loss of the last 10 ≤ 0.5 × the first, no tensor leaked', async () => {
  const tensors = tf.memory().numTensors;
  const { losses } = await train({ steps: 60, logEvery: 0 });
  assert.is(tf.memory().numTensors, tensors, 'tensors leaked');
  const last = losses.slice(-10).reduce((x, y) => x + y, 0) / 10;
  assert.ok(losses.every(Number.isFinite));
  assert.ok(last <= 0.5 * losses[0], `loss ${losses[0]} → ${last}`);
  const again = await train({ steps: 3, logEvery: 0 });
  assert.equal(again.losses, losses.slice(0, 3)); // seeded: the same losses every run
});

test('favorAttention with a projection tensor: dW is backward\'s projectionGradient, bit for bit (learned kernels; masked, causal)', () => {
  for (const kernel of ['softmax', 'softmax-hyperbolic', 'softmax-hyperbolic-normalized'] as const) {
    for (const [s, causal, masked] of [[cross, false, true], [self, true, false]] as const) {
      const a = inputs(s, 11, 0.5);
      const keyMask = masked ? maskOf(s) : undefined;
      const base = new FavorAttention({ dim: s.dim, features: 9, kernel, causal, seed: 4 });
      const w = base.projection;
      const want = base.withProjection(w).backward(a.q, a.k, a.v, a.dOut, s, { keyMask, projectionGradient: true });
      const t = tensors(s, a);
      const wt = tf.tensor2d(w, [9, s.dim]);
      const grads = tf.grads((q, k, v, ww) => favorAttention(q, k, v, base, { keyMask, projection: ww }))([t.q, t.k, t.v, wt], t.dy);
      [want.dq, want.dk, want.dv, want.dW!].forEach((g, i) => assert.ok(sameBits(grads[i].dataSync() as Float32Array, g), `${kernel} causal=${causal} gradient ${i}`));
    }
  }
  // options instead of an instance: the same op
  const a = inputs(cross, 12, 0.5);
  const tc = tensors(cross, a);
  const w = tf.tensor2d(new FavorAttention({ dim: cross.dim, features: 6, seed: 1 }).projection, [6, cross.dim]);
  const viaOptions = favorAttention(tc.q, tc.k, tc.v, { kernel: 'softmax-hyperbolic-normalized' }, { projection: w });
  const viaInstance = favorAttention(tc.q, tc.k, tc.v, new FavorAttention({ dim: cross.dim, kernel: 'softmax-hyperbolic-normalized' }), { projection: w });
  assert.ok(sameBits(viaOptions.dataSync() as Float32Array, viaInstance.dataSync() as Float32Array));
  const t = tensors(cross, inputs(cross, 1, 0.5));
  const attn = new FavorAttention({ dim: cross.dim, features: 4 });
  assert.throws(() => favorAttention(t.q, t.k, t.v, attn, { projection: tf.zeros([4, cross.dim + 1]) }), (e: unknown) => e instanceof PerformerError && e.code === 'INVALID_LENGTH');
  assert.throws(() => favorAttention(t.q, t.k, t.v, attn, { projection: new Float32Array(4) as never }), (e: unknown) => e instanceof PerformerError && e.code === 'INVALID_TYPE');
});

test.run();
