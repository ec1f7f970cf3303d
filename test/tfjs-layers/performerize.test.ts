// performerize: records each attention layer's heads on sample inputs, fits a map per head, switches the layers
// and reports the held-out error per head against exact attention beside mean(V)'s; the switched layer computes
// what its fitted maps say; progress is reported; what it cannot do is an error.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import * as tf from '@tensorflow/tfjs';
import { PerformerError } from '../../src/index.ts';
import { MultiHeadAttention, performerize, type PerformerizeProgress } from '../../src/tfjs-layers.ts';
import { randn } from '../support/data.ts';

tf.enableProdMode(); // no hint to install tfjs-node
await tf.setBackend('cpu');
const [T, D] = [24, 8];

/** input → MultiHeadAttention (2 heads) → MultiHeadAttention (causal) → dense, with weights that make attention peaked. */
function makeModel() {
  const x = tf.input({ shape: [T, D] });
  const a = new MultiHeadAttention({ numHeads: 2, keyDim: 8, kernelInitializer: tf.initializers.randomNormal({ stddev: 0.6, seed: 1 }) });
  const b = new MultiHeadAttention({ numHeads: 1, keyDim: 4, dropout: 0.1, kernelInitializer: tf.initializers.randomNormal({ stddev: 0.6, seed: 2 }) });
  const y = a.apply(x, { value: x }) as tf.SymbolicTensor;
  const z = b.apply(y, { value: y, useCausalMask: true }) as tf.SymbolicTensor;
  return { model: tf.model({ inputs: x, outputs: tf.layers.dense({ units: 2 }).apply(z) as tf.SymbolicTensor }), a, b };
}

/** Sequences with a smooth positional part (so that neighbours look alike) and noise. */
const samples = Array.from({ length: 12 }, (_, n) => {
  const noise = randn(2 * T * D, 40 + n, 0.5);
  return tf.tensor3d(noise.map((e, i) => e + Math.sin((Math.floor(i / D) % T) * (1 + (i % D)) / 6)), [2, T, D]);
});

test('performerize fits every head, switches the layers and reports held-out errors against exact attention and mean(V)', async () => {
  const { model, a, b } = makeModel();
  const progress: PerformerizeProgress[] = [];
  const report = await performerize(model, samples, { window: 3, features: 16, steps: 60, onProgress: (p) => progress.push(p) });
  assert.is(report.layers.length, 2);
  assert.is(report.trainSequences + report.heldOutSequences, 24);
  assert.is(report.heldOutSequences, 6);
  assert.equal(report.layers.map((l) => l.heads.length), [2, 1]);
  for (const layer of report.layers) {
    for (const h of layer.heads) {
      assert.ok(Number.isFinite(h.error) && Number.isFinite(h.meanVError) && Number.isFinite(h.estimateLogScale!), JSON.stringify(h));
      assert.ok(h.error < h.meanVError, `${layer.name} head ${h.head}: ${h.error} vs mean(V) ${h.meanVError}`);
    }
  }
  assert.is(report.layers[1].droppedDropout, 0.1);
  assert.is(a.options.attention, 'hybrid');
  assert.is(b.options.dropout, 0);
  assert.equal(a.weights.map((w) => w.originalName.split('/').slice(1).join('/')).slice(8), ['favor/projection', 'favor/log_scale', 'favor/key_center']);
  assert.equal(Array.from(a.getWeights()[9].dataSync()), report.layers[0].heads.map((h) => Math.fround(h.estimateLogScale!)));
  assert.ok(progress.length > 0 && progress.every((p) => p.total === 3 && p.done < 3));
  const out = model.predict(samples[0]) as tf.Tensor;
  assert.ok(out.dataSync().every(Number.isFinite));
});

test('performerize: errors before any work', async () => {
  const reject = async (fn: () => Promise<unknown>, code: string, match: RegExp) => {
    try { await fn(); } catch (e) {
      assert.instance(e, PerformerError);
      assert.is((e as PerformerError).code, code);
      assert.match((e as Error).message, match);
      return;
    }
    assert.unreachable('no error');
  };
  const x = tf.input({ shape: [T, D] });
  const plain = tf.model({ inputs: x, outputs: tf.layers.dense({ units: 2 }).apply(x) as tf.SymbolicTensor });
  await reject(() => performerize(plain, samples), 'INVALID_OPTION', /no MultiHeadAttention/);
  const { model } = makeModel();
  await reject(() => performerize(model, samples, { heldOut: 1 }), 'INVALID_OPTION', /heldOut/);
  await reject(() => performerize(model, []), 'INVALID_TYPE', /non-empty/);
  await reject(() => performerize(model, samples, { window: 2, typo: 1 } as never), 'UNKNOWN_OPTION', /typo/);
  await performerize(model, samples.slice(0, 2), { window: 2, features: 4, steps: 2 });
  await reject(() => performerize(model, samples), 'INVALID_OPTION', /already in hybrid mode/);
});

test.run();
