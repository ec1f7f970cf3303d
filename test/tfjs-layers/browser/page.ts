// Runs in Chromium (bundled by ../browser.test.ts with the built package): the layer on tfjs-backend-wasm in
// exact mode against the float64 Keras reference, in favor mode against FavorAttention per head, and an
// IndexedDB save → load round trip, bit-identical, in every mode. Results go to window.layerResults.
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { FavorAttention, init } from 'performer-wasm';
import { MultiHeadAttention, type MultiHeadAttentionArgs } from 'performer-wasm/tfjs-layers';
import { kerasCausalMask, kerasMultiHeadAttention } from '../../reference/keras-mha.ts';
import { randn, relError } from '../../support/data.ts';

const [B, T, S, D, Dv, H, K, V, O] = [2, 5, 7, 6, 3, 3, 4, 2, 5];

function layerWith(args: Partial<MultiHeadAttentionArgs>, seed: number) {
  const layer = new MultiHeadAttention({ numHeads: H, keyDim: K, valueDim: V, outputShape: O, ...args });
  layer.buildFromSignature([null, T, D], [null, S, Dv]);
  const keras = layer.getWeights().slice(0, 8).map((w, i) => randn(w.size, seed + i, 0.6));
  layer.setWeights(layer.getWeights().map((w, i) => (i < 8 ? tf.tensor(keras[i], w.shape) : w)));
  return { layer, keras };
}

async function run(): Promise<Record<string, unknown>> {
  await init();
  setWasmPaths('/wasm/');
  if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") failed');
  tf.enableProdMode();
  const query = randn(B * T * D, 1);
  const value = randn(B * S * Dv, 2);
  const q = tf.tensor3d(query, [B, T, D]);
  const v = tf.tensor3d(value, [B, S, Dv]);
  const errors: Record<string, number> = {};
  // exact mode: no mask, and causal (Keras's top-left causal mask with T < S)
  for (const causal of [false, true]) {
    const { layer, keras } = layerWith({}, 10);
    const out = layer.apply(q, { value: v, useCausalMask: causal }) as tf.Tensor;
    const [queryKernel, queryBias, keyKernel, keyBias, valueKernel, valueBias, outputKernel, outputBias] = keras;
    const want = kerasMultiHeadAttention(query, value, value, { queryKernel, queryBias, keyKernel, keyBias, valueKernel, valueBias, outputKernel, outputBias },
      { batch: B, queries: T, keys: S, queryDim: D, keyInDim: Dv, valueInDim: Dv, heads: H, keyDim: K, valueDim: V, outDim: O }, causal ? kerasCausalMask(B, T, S) : undefined);
    errors[`exact${causal ? ' causal' : ''}`] = relError(out.dataSync(), want.output);
  }
  // favor mode: per head FavorAttention on the projected inputs equals the layer (checked in Node); here the same projection draw
  const { layer: favor } = layerWith({ attention: 'favor', features: 8, seed: 4 }, 20);
  const w = favor.getWeights()[8].dataSync();
  const drawn = new FavorAttention({ dim: K, features: 8, seed: 4 + 1 }).projection;
  errors['favor projection draw (head 1)'] = relError(w.slice(8 * K, 16 * K), drawn);
  // IndexedDB round trips
  const same: Record<string, boolean> = {};
  for (const [name, args] of [['exact', {}], ['favor', { attention: 'favor', features: 8 }], ['hybrid', { attention: 'hybrid', window: 2, features: 6 }]] as const) {
    const input = tf.input({ shape: [T, D] });
    const second = tf.input({ shape: [S, Dv] });
    const mha = new MultiHeadAttention({ numHeads: H, keyDim: K, ...args });
    const model = tf.model({ inputs: [input, second], outputs: mha.apply(input, { value: second }) as tf.SymbolicTensor });
    const before = (model.predict([q, v]) as tf.Tensor).dataSync();
    await model.save(`indexeddb://mha-${name}`);
    const loaded = await tf.loadLayersModel(`indexeddb://mha-${name}`);
    const after = (loaded.predict([q, v]) as tf.Tensor).dataSync();
    same[name] = before.length === after.length && before.every((x, i) => Object.is(x, after[i]));
  }
  return { backend: tf.getBackend(), errors, same };
}

run().then((r) => { (window as unknown as { layerResults: unknown }).layerResults = r; },
  (e: Error) => { (window as unknown as { layerResults: unknown }).layerResults = { error: `${e.message}\n${e.stack}` }; })
  .finally(() => document.body.setAttribute('data-done', ''));
