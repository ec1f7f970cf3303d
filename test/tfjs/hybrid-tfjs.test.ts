// performer-wasm/tfjs with hybrid attention and key centring: the op's forward is FavorAttention.forward bit for
// bit, and its gradient is FavorAttention.backward's (with centerKeys, and with a window, bidirectional or causal).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import * as tf from '@tensorflow/tfjs';
import { FavorAttention } from '../../src/index.ts';
import { favorAttention } from '../../src/tfjs.ts';
import { attentionInputs } from '../support/data.ts';

tf.enableProdMode();
await tf.setBackend('cpu');

const s = { batch: 2, heads: 2, queries: 20, keys: 20, dim: 8, valueDim: 8 };
const a = attentionInputs(s, 7);
const q = tf.tensor4d(a.q, [2, 2, 20, 8]);
const k = tf.tensor4d(a.k, [2, 2, 20, 8]);
const v = tf.tensor4d(a.v, [2, 2, 20, 8]);
const dy = tf.tensor4d(a.dOut, [2, 2, 20, 8]);
const same = (x: Float32Array, y: Float32Array) => x.length === y.length && x.every((t, i) => Object.is(t, y[i]));

test('tfjs op: window and centerKeys forward equal FavorAttention.forward, bit for bit', () => {
  for (const config of [{ window: 3 }, { window: 3, causal: true }, { centerKeys: true }, { centerKeys: new Float32Array(8).fill(0.3), causal: true }]) {
    const options = { features: 16, seed: 2, ...config };
    const out = favorAttention(q, k, v, options).dataSync() as Float32Array;
    const direct = new FavorAttention({ dim: 8, ...options }).forward(a.q, a.k, a.v, s);
    assert.ok(same(out, direct), JSON.stringify(Object.keys(config)));
  }
});

test('tfjs op: gradients through centerKeys and a window (bidirectional and causal) are FavorAttention.backward', () => {
  const options = { features: 16, seed: 2, centerKeys: true };
  const grads = tf.grads((qt: tf.Tensor, kt: tf.Tensor, vt: tf.Tensor) => favorAttention(qt, kt, vt, options))([q, k, v], dy);
  const g = new FavorAttention({ dim: 8, ...options }).backward(a.q, a.k, a.v, a.dOut, s);
  assert.ok(same(grads[0].dataSync() as Float32Array, g.dq));
  assert.ok(same(grads[1].dataSync() as Float32Array, g.dk));
  assert.ok(same(grads[2].dataSync() as Float32Array, g.dv));
  const hybrid = { features: 16, seed: 2, window: 2 };
  const hg = tf.grads((qt: tf.Tensor, kt: tf.Tensor, vt: tf.Tensor) => favorAttention(qt, kt, vt, hybrid))([q, k, v], dy);
  const hRef = new FavorAttention({ dim: 8, ...hybrid }).backward(a.q, a.k, a.v, a.dOut, s);
  assert.ok(same(hg[0].dataSync() as Float32Array, hRef.dq) && same(hg[1].dataSync() as Float32Array, hRef.dk) && same(hg[2].dataSync() as Float32Array, hRef.dv));
  const causal = { features: 16, seed: 2, window: 2, causal: true };
  const cg = tf.grads((qt: tf.Tensor, kt: tf.Tensor, vt: tf.Tensor) => favorAttention(qt, kt, vt, causal))([q, k, v], dy);
  const cRef = new FavorAttention({ dim: 8, ...causal }).backward(a.q, a.k, a.v, a.dOut, s);
  assert.ok(same(cg[0].dataSync() as Float32Array, cRef.dq) && same(cg[1].dataSync() as Float32Array, cRef.dk) && same(cg[2].dataSync() as Float32Array, cRef.dv));
});

test.run();
