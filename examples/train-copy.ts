// Trains a one-layer Performer on a copy task with TensorFlow.js (CPU backend) and FAVOR+ from
// performer-wasm/tfjs: `npm run example:train`. Seeded and deterministic: the same losses every run.
//
// The task: a sequence of L random tokens, then the same tokens again; causal attention predicts each
// next token, and the loss counts the second half only (the first half is random: nothing to learn).
// One layer, no MLP: token + position embeddings → q, k, v projections (one head) → causal FAVOR+ →
// output projection → softmax cross-entropy. The copy needs position-based attention (position n + i
// must look back at position i + 1), which the learned position embeddings give the queries and keys.
//
// In a project of your own, import from 'performer-wasm' and 'performer-wasm/tfjs' instead of ../src.
// @tensorflow/tfjs: tfjs-core with every gradient registered and the CPU backend (pure JS; tfjs-node
// would be faster but needs a native download). performer-wasm/tfjs uses the same tfjs-core.
import * as tf from '@tensorflow/tfjs';
import { pathToFileURL } from 'node:url';
import { FavorAttention, initSync } from '../src/index.ts';
import { favorAttention } from '../src/tfjs.ts';

export interface TrainOptions {
  /** Adam steps. */
  steps?: number;
  /** Print the loss every `logEvery` steps (0: never). */
  logEvery?: number;
  /** Tokens to copy: the model sees 2·half positions. */
  half?: number;
  vocab?: number;
  batch?: number;
  seed?: number;
}

export interface TrainResult {
  /** The loss of every step (mean cross-entropy over the second half, nats). */
  losses: number[];
  /** Token accuracy on the second half of a fresh batch after training. */
  accuracy: number;
  seconds: number;
}

const MODEL = 32;     // embedding width = head dim (one head)
const FEATURES = 128; // random features m

/** mulberry32: the task's data, independent of tfjs and of the package's RNG. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function train(options: TrainOptions = {}): Promise<TrainResult> {
  const { steps = 300, logEvery = 25, half = 16, vocab = 16, batch = 32, seed = 1 } = options;
  const L = 2 * half;
  tf.enableProdMode(); // no debug checks, and no hint to install tfjs-node
  await tf.setBackend('cpu');
  const random = rng(seed);

  // One projection for every step (no redraw): the model learns through this estimator.
  const attn = new FavorAttention({ dim: MODEL, features: FEATURES, causal: true, seed });
  const init = (shape: number[], scale: number, s: number) => tf.tidy(() => tf.variable(tf.randomNormal(shape, 0, scale, 'float32', seed * 100 + s)));
  const params = {
    tokens: init([vocab, MODEL], 1, 1),
    positions: init([L, MODEL], 1, 2),
    wq: init([MODEL, MODEL], 1 / Math.sqrt(MODEL), 3),
    wk: init([MODEL, MODEL], 1 / Math.sqrt(MODEL), 4),
    wv: init([MODEL, MODEL], 1 / Math.sqrt(MODEL), 5),
    wo: init([MODEL, vocab], 1 / Math.sqrt(MODEL), 6),
    bo: tf.tidy(() => tf.variable(tf.zeros([vocab]))),
  };

  /** A batch: inputs [batch, L] (tokens, then the same tokens), next-token targets for the second half. */
  function makeBatch(): { inputs: tf.Tensor2D; targets: tf.Tensor2D } {
    const inputs = new Int32Array(batch * L);
    const targets = new Int32Array(batch * (half - 1)); // position half + i − 1 predicts token i (i = 1 … half − 1)
    for (let b = 0; b < batch; b++) {
      for (let i = 0; i < half; i++) {
        const token = Math.floor(random() * vocab);
        inputs[b * L + i] = token;
        inputs[b * L + half + i] = token;
        if (i > 0) targets[b * (half - 1) + i - 1] = token;
      }
    }
    return { inputs: tf.tensor2d(inputs, [batch, L], 'int32'), targets: tf.tensor2d(targets, [batch, half - 1], 'int32') };
  }

  /** Logits [batch, half − 1, vocab] of positions half … L − 2 (those whose next token is a copy). */
  function logits(inputs: tf.Tensor2D): tf.Tensor3D {
    // the embedding as a one-hot product: the CPU backend's gradient of tf.gather is slow
    const embedded = tf.matMul(tf.oneHot(tf.reshape(inputs, [-1]), vocab), params.tokens); // [batch·L, MODEL]
    const x = tf.reshape(tf.add(tf.reshape(embedded, [batch, L, MODEL]), params.positions), [-1, MODEL]);
    const head = (w: tf.Tensor) => tf.reshape(tf.matMul(x, w), [batch, 1, L, MODEL]); // [batch, heads = 1, L, dim]
    const y = favorAttention(head(params.wq), head(params.wk), head(params.wv), attn);
    const all = tf.reshape(tf.add(tf.matMul(tf.reshape(y, [-1, MODEL]), params.wo), params.bo), [batch, L, vocab]);
    return tf.slice(all, [0, half, 0], [batch, half - 1, vocab]) as tf.Tensor3D;
  }

  const optimizer = tf.train.adam(0.01);
  const losses: number[] = [];
  const started = performance.now();
  for (let step = 1; step <= steps; step++) {
    const { inputs, targets } = makeBatch();
    const loss = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(tf.oneHot(targets, vocab), logits(inputs)) as tf.Scalar, true)!;
    losses.push(loss.dataSync()[0]);
    tf.dispose([inputs, targets, loss]);
    if (logEvery && (step % logEvery === 0 || step === 1)) {
      console.log(`step ${String(step).padStart(4)}  loss ${losses[step - 1].toFixed(4)}  (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    }
  }
  const seconds = (performance.now() - started) / 1000;

  const { inputs, targets } = makeBatch();
  const accuracy = tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(logits(inputs), -1), targets), 'float32')).dataSync()[0]);
  optimizer.dispose();
  tf.dispose([inputs, targets, ...Object.values(params)]);
  return { losses, accuracy, seconds };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  initSync(undefined, { relaxedSimd: false }); // the baseline build: bit-identical results everywhere
  const chance = Math.log(16);
  console.log(`one-layer Performer (causal FAVOR+, d = ${MODEL}, m = ${FEATURES}), copy task, CPU backend; chance = ln 16 = ${chance.toFixed(4)}`);
  const { losses, accuracy, seconds } = await train();
  const tail = losses.slice(-25).reduce((a, b) => a + b, 0) / 25;
  console.log(`trained ${losses.length} steps in ${seconds.toFixed(1)} s: loss ${losses[0].toFixed(4)} → ${tail.toFixed(4)} (mean of the last 25), copy accuracy ${(100 * accuracy).toFixed(1)}%`);
}
