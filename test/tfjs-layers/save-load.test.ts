// Save and load: model.save → tf.loadLayersModel gives bit-identical outputs in every attention mode (memory,
// and model.json + weights on disk read back by an IOHandler); the layer saved under either registered name
// loads; a Keras-format model.json (fixtures/keras-mha, as the converter writes it) loads as this layer and
// matches the float64 Keras reference.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { MultiHeadAttention, PerformerAttention, type MultiHeadAttentionArgs } from '../../src/tfjs-layers.ts';
import { kerasMultiHeadAttention } from '../reference/keras-mha.ts';
import { randn, relError } from '../support/data.ts';
import { layerBackends } from './backends.ts';

const backends = await layerBackends();
const here = dirname(new URL(import.meta.url).pathname);
const [T, S, D, Dv] = [7, 9, 6, 5];

/** input(s) → MultiHeadAttention → dense: self-attention (causal) or cross-attention (two inputs). */
function makeModel(args: Partial<MultiHeadAttentionArgs>, cross: boolean, cls: typeof MultiHeadAttention = MultiHeadAttention) {
  const q = tf.input({ shape: [T, D] });
  const v = cross ? tf.input({ shape: [S, Dv] }) : q;
  const layer = new cls({ numHeads: 2, keyDim: 4, valueDim: 3, ...args });
  const y = layer.apply(q, { value: v, useCausalMask: !cross }) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3 }).apply(y) as tf.SymbolicTensor;
  return { model: tf.model({ inputs: cross ? [q, v] : q, outputs: out }), layer };
}

const inputs = (cross: boolean) => {
  const q = tf.tensor3d(randn(2 * T * D, 1), [2, T, D]);
  return cross ? [q, tf.tensor3d(randn(2 * S * Dv, 2), [2, S, Dv])] : q;
};

async function inMemory(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (a) => { saved = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
  return saved!;
}

/** model.json + weights.bin in a folder, as tfjs-node's file:// handler writes them, and an IOHandler that reads them back. */
function onDisk(a: tf.io.ModelArtifacts): tf.io.IOHandler {
  const dir = mkdtempSync(join(tmpdir(), 'mha-'));
  writeFileSync(join(dir, 'model.json'), JSON.stringify({ modelTopology: a.modelTopology, format: a.format, generatedBy: a.generatedBy, convertedBy: a.convertedBy,
    weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }] }));
  writeFileSync(join(dir, 'weights.bin'), new Uint8Array(a.weightData as ArrayBuffer));
  return { load: async () => {
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    const bin = readFileSync(join(dir, 'weights.bin'));
    rmSync(dir, { recursive: true });
    return { modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length) };
  } };
}

const sameBits = (a: tf.Tensor, b: tf.Tensor) => Buffer.compare(Buffer.from((a.dataSync() as Float32Array).buffer), Buffer.from((b.dataSync() as Float32Array).buffer)) === 0;

const modes: [string, Partial<MultiHeadAttentionArgs>, boolean][] = [
  ['exact', {}, false],
  ['exact, cross-attention', {}, true],
  ['favor, trainable projection', { attention: 'favor', features: 8, seed: 5, trainableProjection: true }, false],
  ['favor, cross-attention, centred keys', { attention: 'favor', features: 8, centerKeys: true }, true],
  ['hybrid, fitted β and key centres', { attention: 'hybrid', window: 2, features: 6 }, false],
];

for (const backend of backends) {
  test(`save → load is bit-identical in every mode, in memory and on disk (${backend})`, async () => {
    await tf.setBackend(backend);
    for (const [name, args, cross] of modes) {
      const { model, layer } = makeModel(args, cross);
      if (name.startsWith('hybrid')) {
        // per-head values, as performerize leaves them
        layer.switchAttention({ centerKeys: 'fitted' }, [{ logScale: -1.25, keyCenter: randn(4, 3, 0.1) }, { logScale: 0.5, keyCenter: randn(4, 4, 0.1) }]);
      }
      const x = inputs(cross);
      const want = model.predict(x) as tf.Tensor;
      const artifacts = await inMemory(model);
      for (const [where, handler] of [['memory', tf.io.fromMemory(artifacts)], ['disk', onDisk(artifacts)]] as const) {
        const loaded = await tf.loadLayersModel(handler);
        const mha = loaded.layers.find((l) => l instanceof MultiHeadAttention) as MultiHeadAttention;
        assert.is(mha.options.attention, layer.options.attention, `${name}: mode`);
        assert.equal(mha.weights.map((w) => w.originalName.split('/').slice(1).join('/')), layer.weights.map((w) => w.originalName.split('/').slice(1).join('/')));
        assert.ok(sameBits(loaded.predict(x) as tf.Tensor, want), `${name} (${where}): outputs differ after loading`);
      }
    }
  });
}

test('the layer saved as PerformerAttention loads as PerformerAttention', async () => {
  const { model } = makeModel({ attention: 'favor', features: 4 }, false, PerformerAttention);
  const artifacts = await inMemory(model);
  assert.match(JSON.stringify(artifacts.modelTopology), /"class_name":"PerformerAttention"/);
  const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  assert.ok(loaded.layers.some((l) => l instanceof PerformerAttention));
  const x = inputs(false);
  assert.ok(sameBits(loaded.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor));
});

test('exact mode saves Keras\'s config: no option of ours in it', async () => {
  const { model } = makeModel({}, true);
  const topology = JSON.stringify((await inMemory(model)).modelTopology);
  for (const key of ['num_heads', 'key_dim', 'value_dim', 'query_shape', 'key_shape', 'value_shape', 'kernel_initializer']) assert.ok(topology.includes(`"${key}"`), key);
  for (const key of ['"attention"', '"features"', '"window"']) assert.not.ok(topology.includes(key), key);
});

for (const backend of backends) {
  test(`a Keras-format model.json (converter layout, value passed by reference) loads and matches the float64 Keras reference (${backend})`, async () => {
    await tf.setBackend(backend);
    const dir = join(here, 'fixtures/keras-mha');
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    const bin = readFileSync(join(dir, 'group1-shard1of1.bin'));
    const weightData = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length);
    const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData }));
    const mha = model.layers[1] as MultiHeadAttention;
    assert.instance(mha, MultiHeadAttention);
    assert.is(mha.options.attention, 'exact');
    const x = randn(2 * 6 * 8, 9);
    const out = model.predict(tf.tensor3d(x, [2, 6, 8])) as tf.Tensor;
    const floats = new Float32Array(weightData);
    const parts: Float32Array[] = [];
    let at = 0;
    for (const spec of json.weightsManifest[0].weights as { shape: number[] }[]) {
      const n = spec.shape.reduce((a, b) => a * b, 1);
      parts.push(floats.slice(at, at + n));
      at += n;
    }
    const [queryKernel, queryBias, keyKernel, keyBias, valueKernel, valueBias, outputKernel, outputBias] = parts;
    const want = kerasMultiHeadAttention(x, x, x, { queryKernel, queryBias, keyKernel, keyBias, valueKernel, valueBias, outputKernel, outputBias },
      { batch: 2, queries: 6, keys: 6, queryDim: 8, keyInDim: 8, valueInDim: 8, heads: 2, keyDim: 3, valueDim: 4, outDim: 8 });
    const err = relError(out.dataSync(), want.output);
    assert.ok(err <= 1e-5, `relative error ${err}`);
  });
}

test('a Keras-format cross-attention node (value from another input) is an error that says how to rewrite it', async () => {
  const json = JSON.parse(readFileSync(join(here, 'fixtures/keras-mha/model.json'), 'utf8'));
  const layers = json.modelTopology.model_config.config.layers;
  layers.splice(1, 0, { class_name: 'InputLayer', config: { batch_input_shape: [null, 6, 8], dtype: 'float32', sparse: false, ragged: false, name: 'input_2' }, name: 'input_2', inbound_nodes: [] });
  layers[2].inbound_nodes = [[['input_1', 0, 0, { value: ['input_2', 0, 0] }]]];
  json.modelTopology.model_config.config.input_layers.push(['input_2', 0, 0]);
  const bin = readFileSync(join(here, 'fixtures/keras-mha/group1-shard1of1.bin'));
  const load = () => tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights,
    weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length) }));
  try {
    await load();
    assert.unreachable('loaded');
  } catch (e) {
    assert.match((e as Error).message, /Rewrite the layer's inbound node/);
  }
  // the workaround: the inputs as a list
  layers[2].inbound_nodes = [[['input_1', 0, 0, {}], ['input_2', 0, 0, {}]]];
  const model = await load();
  assert.equal((model.predict([tf.zeros([1, 6, 8]), tf.ones([1, 6, 8])]) as tf.Tensor).shape, [1, 6, 8]);
});

test.run();
