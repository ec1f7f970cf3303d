// MultiHeadAttention in favor and hybrid modes: the output is FavorAttention.forward per head on the layer's
// projected q, k, v (with the head's projection, β and mask), merged by the output kernel, ≤ 1e-6; gradients
// reach every weight (the projection too when trainable); the rules that make a call or an option an error.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import * as tf from '@tensorflow/tfjs';
import { FavorAttention, PerformerError } from '../../src/index.ts';
import { MultiHeadAttention } from '../../src/tfjs-layers.ts';
import { recorders, type ProjectedCall } from '../../src/tfjs-layers/recording.ts';
import { denseAttention } from '../../src/tfjs-layers/dense-attention.ts';
import { mergeHeads, splitHeads } from '../../src/tfjs-layers/heads.ts';
import { randn, relError } from '../support/data.ts';
import { layerBackends } from './backends.ts';
import { buildCase, type LayerCase } from './cases.ts';

const TOLERANCE = 1e-6;
const backends = await layerBackends();

/** Head h of x [B, H, L, E] as a Float32Array [B, 1, L, E]. */
function head(x: Float32Array, [B, H, L, E]: number[], h: number): Float32Array {
  const out = new Float32Array(B * L * E);
  for (let b = 0; b < B; b++) out.set(x.subarray(((b * H + h) * L) * E, ((b * H + h) * L + L) * E), b * L * E);
  return out;
}

/** out[b, t, :] = Σ_h heads[b, h, t, :]·Wo[h] + bo, in float64. */
function merge(heads: Float32Array[], B: number, T: number, V: number, wo: Float32Array, bo: Float32Array | undefined, O: number): Float64Array {
  const out = new Float64Array(B * T * O);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let o = 0; o < O; o++) {
    let s = bo ? bo[o] : 0;
    heads.forEach((x, h) => { for (let e = 0; e < V; e++) s += x[(b * T + t) * V + e] * wo[(h * V + e) * O + o]; });
    out[(b * T + t) * O + o] = s;
  }
  return out;
}

const cases: [string, LayerCase, boolean][] = [
  ['cross, T ≠ S, K ≠ V', { B: 2, T: 5, S: 9, D: 6, Dk: 4, Dv: 3, H: 3, K: 4, V: 2, outputShape: 5 }, false],
  ['self, causal', { B: 2, T: 12, S: 12, D: 8, H: 2, K: 4, V: 3 }, true],
  ['T = 1', { B: 1, T: 1, S: 6, D: 4, H: 2, K: 2 }, false],
];

for (const backend of backends) {
  test(`favor and hybrid modes equal FavorAttention.forward on the projected inputs ≤ ${TOLERANCE} (${backend})`, async () => {
    await tf.setBackend(backend);
    let seed = 500;
    for (const [name, c, causal] of cases) {
      for (const extra of [{ attention: 'favor', features: 12, seed: 3 }, { attention: 'hybrid', features: 10, window: 2, seed: 9, estimateLogScale: -0.5 },
        { attention: 'favor', features: 8, kernel: 'softmax-hyperbolic-normalized', centerKeys: !causal }] as const) {
        for (const masked of [false, true]) {
          const built = buildCase(c, seed += 10, extra as never);
          const { layer, tensors, shape } = built;
          let seen: { q: Float32Array; k: Float32Array; v: Float32Array; shapes: number[][] } | undefined;
          recorders.set(layer, (p: ProjectedCall) => { seen = { q: p.q.dataSync() as Float32Array, k: p.k.dataSync() as Float32Array, v: p.v.dataSync() as Float32Array, shapes: [p.q.shape, p.k.shape, p.v.shape] }; });
          const keyMask = masked ? new Uint8Array(c.B * c.S).map((_, i) => (i % c.S < c.S - 1 - (i % 2) ? 1 : 0)) : undefined;
          const attentionMask = keyMask ? tf.tensor3d(Array.from({ length: c.B * c.T * c.S }, (_, i) => keyMask[Math.floor(i / (c.T * c.S)) * c.S + (i % c.S)]), [c.B, c.T, c.S]) : undefined;
          const out = layer.apply(tensors.query, { value: tensors.value, key: tensors.key, attentionMask, useCausalMask: causal }) as tf.Tensor;
          const projection = layer.getWeights().find((_, i) => layer.weights[i].originalName.endsWith('favor/projection'))!.dataSync() as Float32Array;
          const m = extra.features;
          const heads = Array.from({ length: c.H }, (_, h) => {
            const attn = new FavorAttention({ dim: c.K, features: m, kernel: 'kernel' in extra ? extra.kernel : 'softmax', causal,
              projection: projection.slice(h * m * c.K, (h + 1) * m * c.K), ...('window' in extra ? { window: extra.window, estimateLogScale: extra.estimateLogScale } : {}),
              ...('centerKeys' in extra && extra.centerKeys ? { centerKeys: true } : {}) });
            const [qs, ks, vs] = seen!.shapes;
            return attn.forward(head(seen!.q, qs, h), head(seen!.k, ks, h), head(seen!.v, vs, h), { batch: c.B, heads: 1, queries: c.T, keys: c.S, dim: c.K, valueDim: shape.valueDim }, { keyMask });
          });
          const want = merge(heads, c.B, c.T, shape.valueDim, built.weights.outputKernel as Float32Array, built.weights.outputBias as Float32Array, shape.outDim);
          const err = relError(out.dataSync(), want);
          assert.ok(err <= TOLERANCE, `${name} ${JSON.stringify(extra)} masked=${masked}: ${err}`);
          tf.dispose([out, ...Object.values(tensors), ...(attentionMask ? [attentionMask] : [])]);
        }
      }
    }
  });
}

test('head h starts from FavorAttention\'s draw with seed + h', () => {
  const { layer } = buildCase({ B: 1, T: 2, S: 2, D: 4, H: 3, K: 4 }, 1, { attention: 'favor', features: 6, seed: 40 });
  const w = layer.getWeights()[layer.weights.findIndex((x) => x.originalName.endsWith('favor/projection'))];
  assert.equal(w.shape, [3, 6, 4]);
  const data = w.dataSync();
  for (let h = 0; h < 3; h++) assert.equal(Array.from(data.slice(h * 24, (h + 1) * 24)), Array.from(new FavorAttention({ dim: 4, features: 6, seed: 40 + h }).projection));
});

test('gradients: exact mode equals autodiff through tfjs ops; favor mode reaches every weight, the projection when trainable', async () => {
  await tf.setBackend('cpu');
  const c: LayerCase = { B: 2, T: 6, S: 6, D: 5, H: 2, K: 3, V: 4 };
  const dy = tf.tensor3d(randn(2 * 6 * 5, 77), [2, 6, 5]);
  const exact = buildCase(c, 900);
  const vars = exact.layer.trainableWeights.map((w) => w.read() as tf.Variable);
  const byLayer = tf.variableGrads(() => tf.sum(tf.mul(exact.layer.apply(exact.tensors.query, { value: exact.tensors.value, useCausalMask: true }) as tf.Tensor, dy)) as tf.Scalar, vars);
  const [wq, bq, wk, bk, wv, bv, wo, bo] = vars;
  const causal = tf.linalg.bandPart(tf.ones([1, 6, 6]), -1, 0);
  const byOps = tf.variableGrads(() => {
    const q = splitHeads(exact.tensors.query, wq, bq);
    const k = splitHeads(exact.tensors.value, wk, bk);
    const v = splitHeads(exact.tensors.value, wv, bv);
    return tf.sum(tf.mul(mergeHeads(denseAttention(q, k, v, causal)[0], wo, bo), dy)) as tf.Scalar;
  }, vars);
  // all gradients together: key/bias's is zero in exact arithmetic (softmax ignores a shift per row), so alone it has no relative error
  const all = (g: Record<string, tf.Tensor>) => vars.flatMap((w) => Array.from(g[w.name].dataSync()));
  const err = relError(all(byLayer.grads), all(byOps.grads));
  assert.ok(err <= 1e-5, `gradients: ${err}`);
  for (const [attention, trainableProjection] of [['hybrid', false], ['favor', true]] as const) {
    const f = buildCase(c, 901, { attention, features: 8, trainableProjection, ...(attention === 'hybrid' ? { window: 1 } : {}) });
    const trainable = f.layer.trainableWeights.map((w) => w.read() as tf.Variable);
    assert.is(trainable.length, trainableProjection ? 9 : 8);
    const g = tf.variableGrads(() => tf.sum(tf.mul(f.layer.apply(f.tensors.query, { value: f.tensors.value }) as tf.Tensor, dy)) as tf.Scalar, trainable);
    for (const w of trainable) {
      const x = g.grads[w.name].dataSync();
      assert.ok(x.every(Number.isFinite) && x.some((t) => t !== 0), `${w.name} has a gradient`);
    }
  }
});

test('errors: options and calls the layer cannot serve are PerformerErrors that say the rule', () => {
  const code = (fn: () => unknown, want: string, match: RegExp) => {
    try { fn(); } catch (e) {
      assert.instance(e, PerformerError);
      assert.is((e as PerformerError).code, want);
      assert.match((e as Error).message, match);
      return;
    }
    assert.unreachable('no error');
  };
  code(() => new MultiHeadAttention({ numHeads: 2, keyDim: 4, attentionAxes: [2, 3] }), 'INVALID_OPTION', /sequence axis only/);
  code(() => new MultiHeadAttention({ numHeads: 2, keyDim: 4, attention: 'hybrid' }), 'INVALID_OPTION', /window ≥ 1/);
  code(() => new MultiHeadAttention({ numHeads: 2, keyDim: 4, attention: 'favor', dropout: 0.1 }), 'INVALID_OPTION', /never forms/);
  code(() => new MultiHeadAttention({ numHeads: 2, keyDim: 4, attention: 'hybrid', window: 2, trainableProjection: true }), 'INVALID_OPTION', /no projection gradient/);
  code(() => new MultiHeadAttention({ numHeads: 2, keyDim: 4, features: 16 }), 'INVALID_OPTION', /need attention 'favor' or 'hybrid'/);
  code(() => new MultiHeadAttention({ numHeads: 0, keyDim: 4 }), 'INVALID_SIZE', /numHeads/);
  code(() => new MultiHeadAttention({ numHeads: 1, keyDim: 4, typo: 1 } as never), 'UNKNOWN_OPTION', /typo/);
  const f = buildCase({ B: 1, T: 3, S: 3, D: 4, H: 1, K: 2 }, 5, { attention: 'favor', features: 4 });
  const general = tf.tensor3d([1, 0, 0, 1, 1, 0, 0, 1, 1], [1, 3, 3]);
  code(() => f.layer.apply(f.tensors.query, { value: f.tensors.value, attentionMask: general }), 'INVALID_OPTION', /key padding mask/);
  code(() => f.layer.callAndReturnAttentionScores(f.tensors.query, { value: f.tensors.value }), 'INVALID_OPTION', /needs attention 'exact'/);
  const cross = buildCase({ B: 1, T: 2, S: 3, D: 4, H: 1, K: 2 }, 5, { attention: 'favor', features: 4 });
  code(() => cross.layer.apply(cross.tensors.query, { value: cross.tensors.value, useCausalMask: true }), 'INVALID_OPTION', /T = S/);
  const e = new MultiHeadAttention({ numHeads: 1, keyDim: 2 });
  code(() => e.apply(tf.zeros([1, 2, 3, 4]), { value: tf.zeros([1, 2, 3, 4]) }), 'INVALID_LENGTH', /\[batch, seq, dim\]/);
  code(() => e.apply(tf.zeros([1, 2, 3]), {}), 'INVALID_OPTION', /value argument is required/);
});

test.run();
