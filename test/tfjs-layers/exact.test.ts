// MultiHeadAttention in exact mode against a float64 reference of Keras's layer (test/reference/keras-mha.ts),
// on odd shapes (T ≠ S, keyDim ≠ valueDim, key ≠ value, outputShape, no bias, T = 1, dims of 1), with a padding
// mask, a general mask, causal (T = S and T ≠ S) and their merge, on every tfjs backend that loads here.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import * as tf from '@tensorflow/tfjs';
import { kerasCausalMask, kerasMultiHeadAttention } from '../reference/keras-mha.ts';
import { relError, rng } from '../support/data.ts';
import { layerBackends } from './backends.ts';
import { buildCase, type LayerCase } from './cases.ts';

const TOLERANCE = 1e-5;
const backends = await layerBackends();

const cases: [string, LayerCase][] = [
  ['T ≠ S, K ≠ V, key ≠ value, outputShape 5', { B: 2, T: 5, S: 7, D: 6, Dk: 4, Dv: 3, H: 3, K: 4, V: 2, outputShape: 5 }],
  ['self-attention shapes, outputShape [2, 3], no bias', { B: 2, T: 6, S: 6, D: 8, H: 2, K: 3, V: 5, outputShape: [2, 3], useBias: false }],
  ['T = 1', { B: 3, T: 1, S: 4, D: 5, H: 2, K: 3 }],
  ['D = K = V = 1, H = 1', { B: 1, T: 3, S: 2, D: 1, H: 1, K: 1 }],
  ['longer, 4 heads', { B: 1, T: 33, S: 29, D: 16, H: 4, K: 8, V: 6 }],
];

type MaskKind = 'none' | 'padding' | 'general' | 'causal' | 'causal+padding';

/** A [B, T, S] mask of the kind asked for (every row keeps ≥ 1 key), and the merged mask Keras applies. */
function maskFor(kind: MaskKind, B: number, T: number, S: number, seed: number): { attention?: Uint8Array; merged?: Uint8Array; causal: boolean } {
  const u = rng(seed);
  const causal = kind.startsWith('causal');
  let attention: Uint8Array | undefined;
  if (kind === 'padding' || kind === 'causal+padding') {
    attention = new Uint8Array(B * T * S);
    for (let b = 0; b < B; b++) {
      const keep = Math.max(1, S - 1 - b); // the last keys of each sequence are padding
      for (let i = 0; i < T; i++) for (let j = 0; j < S; j++) attention[(b * T + i) * S + j] = j < keep ? 1 : 0;
    }
  } else if (kind === 'general') {
    attention = new Uint8Array(B * T * S).map(() => (u() < 0.6 ? 1 : 0));
    for (let r = 0; r < B * T; r++) attention[r * S + (r % S)] = 1;
  }
  const merged = causal ? kerasCausalMask(B, T, S, attention) : attention;
  return { attention, merged, causal };
}

for (const backend of backends) {
  test(`exact mode equals the float64 Keras reference ≤ ${TOLERANCE} on odd shapes and every mask kind (${backend})`, async () => {
    await tf.setBackend(backend);
    let seed = 100;
    for (const [name, c] of cases) {
      for (const kind of ['none', 'padding', 'general', 'causal', 'causal+padding'] as MaskKind[]) {
        if (kind.startsWith('causal') && c.T > c.S) continue; // Keras's causal mask leaves the last queries no key
        const built = buildCase(c, seed += 10);
        const { layer, tensors, shape } = built;
        const m = maskFor(kind, c.B, c.T, c.S, seed);
        const attentionMask = m.attention ? tf.tensor3d(m.attention, [c.B, c.T, c.S], 'bool') : undefined;
        const out = layer.apply(tensors.query, { value: tensors.value, key: tensors.key, attentionMask, useCausalMask: m.causal }) as tf.Tensor;
        const want = kerasMultiHeadAttention(built.query, built.value, built.key, built.weights, shape, m.merged);
        const outShape = [c.B, c.T, ...(c.outputShape === undefined ? [c.D] : Array.isArray(c.outputShape) ? c.outputShape : [c.outputShape])];
        assert.equal(out.shape, outShape, `${name} ${kind}`);
        const err = relError(out.dataSync(), want.output);
        assert.ok(err <= TOLERANCE, `${name}, ${kind}: relative error ${err}`);
        const [withScores, scores] = layer.callAndReturnAttentionScores(tensors.query, { value: tensors.value, key: tensors.key, attentionMask, useCausalMask: m.causal });
        assert.equal(scores.shape, [c.B, c.H, c.T, c.S]);
        assert.ok(relError(scores.dataSync(), want.weights) <= TOLERANCE, `${name}, ${kind}: scores`);
        assert.ok(relError(withScores.dataSync(), want.output) <= TOLERANCE, `${name}, ${kind}: output with scores`);
        tf.dispose([out, withScores, scores, ...Object.values(tensors), ...(attentionMask ? [attentionMask] : [])]);
        layer.weights.forEach((w) => w.dispose());
      }
    }
  });
}

test('weights: Keras names, shapes and order', () => {
  const { layer } = buildCase({ B: 1, T: 3, S: 4, D: 6, Dk: 5, Dv: 7, H: 2, K: 3, V: 4, outputShape: 9 }, 1);
  assert.equal(layer.weights.map((w) => [w.originalName.split('/').slice(1).join('/'), w.shape]), [
    ['query/kernel', [6, 2, 3]], ['query/bias', [2, 3]], ['key/kernel', [5, 2, 3]], ['key/bias', [2, 3]],
    ['value/kernel', [7, 2, 4]], ['value/bias', [2, 4]], ['attention_output/kernel', [2, 4, 9]], ['attention_output/bias', [9]],
  ]);
  assert.ok(layer.weights.every((w) => w.originalName.startsWith(`${layer.name}/`)));
});

test.run();
