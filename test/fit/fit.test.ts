// fitFeatureMap (src/favor/fit.ts, fit-loss.ts): its gradient against float64 central differences, and its
// behaviour on synthetic heads with a known structure (fixed seeds): better than the random map, deterministic,
// progress reported, early stopping, bad input refused.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import { exactAttention, FavorAttention, fitFeatureMap, type FitSample, type KernelName } from '../../src/index.ts';
import { totalLoss } from '../../src/fit/fit.ts';
import { prepareSample, sampleLoss, type FitLoss, type WindowRule } from '../../src/fit/fit-loss.ts';
import { randn, relError, rng } from '../support/data.ts';
import { throwsCode } from '../support/expect.ts';
import { featureVector } from '../reference/favor.ts';

// the wasm gradient (float32 features) against central differences of the float64 loss: float32 rounding
// of φ (~1e-7 relative) enters the gradient through e_ij/D_ij; measured 3e-7 at worst, budget 1e-5
const GRADIENT = 1e-5;

/** Windows of a synthetic head: queries and keys near a few cluster centres, so attention is sharp. */
function clusteredHead(count: number, L: number, d: number, seed: number, strength = 2.5, clusters = 4): FitSample[] {
  const centres = randn(clusters * d, 999, 1);
  const u = rng(seed);
  return Array.from({ length: count }, (_, n) => {
    const q = randn(L * d, seed * 100 + n, 0.3);
    const k = randn(L * d, seed * 100 + n + 50, 0.3);
    for (let i = 0; i < L; i++) {
      const [cq, ck] = [Math.floor(u() * clusters), Math.floor(u() * clusters)];
      for (let t = 0; t < d; t++) {
        q[i * d + t] += strength * centres[cq * d + t];
        k[i * d + t] += strength * centres[ck * d + t];
      }
    }
    return { q, k, v: randn(L * d, seed * 7 + n), length: L };
  });
}

test('gradient of the fit loss (W and β) against float64 central differences: kl and mse, causal, windows, three kernels', () => {
  const [d, m, L] = [3, 4, 6];
  const samples = clusteredHead(2, L, d, 3, 0.8);
  let worst = 0;
  for (const kernel of ['softmax', 'softmax-hyperbolic', 'softmax-hyperbolic-normalized'] as KernelName[]) {
    for (const loss of ['kl', 'mse'] as FitLoss[]) {
      for (const [causal, window] of [[false, 0], [true, 0], [false, 1], [true, 2]] as const) {
        const rule: WindowRule = { causal, window };
        const set = samples.map((s) => prepareSample(s.q, s.k, s.v, L, d, rule, loss));
        const attn = new FavorAttention({ dim: d, features: m, kernel, seed: 6 });
        const beta = window ? 0.7 : 0;
        const { grad } = totalLoss(attn, set, rule, loss, beta, true);
        // float64 loss of (W, β): features from the float64 reference map
        const loss64 = (p: Float64Array) => {
          const cfg = { kernel, dim: d, w: p.subarray(0, m * d) as never };
          let total = 0;
          for (const s of set) {
            const rows = (x: Float32Array) => Array.from({ length: L }, (_, i) => featureVector(cfg, x.subarray(i * d, (i + 1) * d)));
            const [pq, pk] = [rows(s.q), rows(s.k)];
            const D = new Float64Array(L * L).map((_, ij) => pq[Math.floor(ij / L)].reduce((acc, x, r) => acc + x * pk[ij % L][r], 0));
            total += sampleLoss(s, { D, logQ: new Float64Array(L), logK: new Float64Array(L) }, rule, loss, p[m * d], 1).loss;
          }
          return total / (set.length * L);
        };
        const p = new Float64Array(m * d + 1);
        p.set(attn.projection);
        p[m * d] = beta;
        const fd = p.map((_, i) => {
          const h = 1e-5;
          const up = p.slice(); up[i] += h;
          const down = p.slice(); down[i] -= h;
          return (loss64(up) - loss64(down)) / (2 * h);
        });
        const err = relError(grad!, fd);
        worst = Math.max(worst, err);
        assert.ok(err <= GRADIENT, `${kernel} ${loss} causal=${causal} window=${window}: ${err.toExponential(2)}`);
      }
    }
  }
  console.log(`    fit gradient against central differences: worst relative error ${worst.toExponential(2)} (24 cases)`);
});

const [D, L] = [16, 32];
const TRAIN = clusteredHead(8, L, D, 1);
const HELD = clusteredHead(4, L, D, 2);

/** Relative output error against exact attention over the windows, and that of mean(V). */
function outputError(attn: FavorAttention, set: FitSample[]): number {
  let num = 0;
  let den = 0;
  for (const s of set) {
    const shape = { queries: L, keys: L, dim: D, valueDim: D };
    const exact = exactAttention(s.q, s.k, s.v!, shape);
    const est = attn.forward(s.q, s.k, s.v!, shape);
    exact.forEach((x, i) => { num += (est[i] - x) ** 2; den += x * x; });
  }
  return Math.sqrt(num / den);
}

test('fitted normalized map beats the random maps on held-out windows of a sharp synthetic head (KL and output error)', () => {
  const progress: { step: number; trainLoss: number; heldOutLoss: number }[] = [];
  const fit = fitFeatureMap(TRAIN, { dim: D, features: 16, steps: 200, learningRate: 0.02, heldOut: HELD, onProgress: (p) => progress.push(p) });
  const initial = progress[0].heldOutLoss; // the orthogonal random draw the fit starts from
  const fitted = outputError(new FavorAttention({ dim: D, ...fit.options }), HELD);
  const randomNormalized = outputError(new FavorAttention({ dim: D, features: 16, kernel: 'softmax-hyperbolic-normalized' }), HELD);
  const randomPositive = outputError(new FavorAttention({ dim: D, features: 16 }), HELD);
  console.log(`    held-out KL: random ${initial.toFixed(3)} → fitted ${fit.heldOutLoss.toFixed(3)} (step ${fit.bestStep} of ${fit.steps}); ` +
              `output error: fitted ${fitted.toFixed(3)}, random normalized ${randomNormalized.toFixed(3)}, random FAVOR+ ${randomPositive.toFixed(3)}`);
  assert.ok(fit.heldOutLoss <= 0.5 * initial);
  assert.ok(fitted <= 0.9 * randomNormalized && fitted <= 0.7 * randomPositive);
  // output MSE as the loss also improves on the random map
  const mse = fitFeatureMap(TRAIN, { dim: D, features: 16, steps: 60, learningRate: 0.02, heldOut: HELD, loss: 'mse' });
  assert.ok(outputError(new FavorAttention({ dim: D, ...mse.options }), HELD) <= 0.9 * randomNormalized);
});

test('fitFeatureMap: deterministic for a fixed seed; progress every evalEvery steps; the result spreads into FavorAttention', () => {
  const calls: number[] = [];
  const run = (seed: number) => fitFeatureMap(TRAIN.slice(0, 3), { dim: D, features: 8, steps: 25, seed, evalEvery: 10, heldOut: HELD.slice(0, 1),
                                                                      onProgress: (p) => calls.push(p.step) });
  const [a, b, c] = [run(4), run(4), run(5)];
  const batched = () => fitFeatureMap(TRAIN, { dim: D, features: 8, steps: 40, batchSize: 3, heldOut: HELD.slice(0, 2), learningRate: 0.02 });
  const [m1, m2] = [batched(), batched()];
  assert.ok(m1.options.projection.every((x, i) => Object.is(x, m2.options.projection[i])));
  assert.ok(m1.bestStep > 0, 'minibatches improve the held-out loss');
  assert.ok(a.options.projection.every((x, i) => Object.is(x, b.options.projection[i])));
  assert.ok(!a.options.projection.every((x, i) => Object.is(x, c.options.projection[i])));
  assert.equal(calls.slice(0, 4), [0, 10, 20, 25]);
  assert.equal(Object.keys(a.options).sort(), ['causal', 'features', 'kernel', 'projection']);
  const attn = new FavorAttention({ dim: D, ...a.options });
  assert.ok(attn.projection.every((x, i) => x === a.options.projection[i]));
  // window and centring pass through (FavorAttention takes them with the hybrid attention)
  const w = fitFeatureMap(TRAIN.slice(0, 2), { dim: D, features: 8, steps: 3, window: 2, centerKeys: true, causal: true });
  assert.is(w.options.window, 2);
  assert.ok(w.options.centerKeys instanceof Float32Array && w.options.centerKeys.length === D);
  assert.ok(Number.isFinite(w.estimateLogScale));
  assert.ok(Number.isNaN(w.heldOutLoss));
});

test('fitFeatureMap with a window: options carry β (estimateLogScale), and the attention built from them is the fitted hybrid', () => {
  // output MSE as the loss: the fit's held-out objective is the mean over query rows of ‖out − exact‖²/dv, which the
  // attention built from fit.options must reproduce (float32 forward against the fit's float64: ≤ 1e-4 relative)
  const mse = fitFeatureMap(TRAIN, { dim: D, features: 16, steps: 40, learningRate: 0.02, heldOut: HELD, loss: 'mse', window: 2, centerKeys: true });
  assert.is(mse.options.estimateLogScale, mse.estimateLogScale);
  const attn = new FavorAttention({ dim: D, ...mse.options });
  assert.is(attn.estimateLogScale, mse.estimateLogScale);
  let sum = 0;
  for (const s of HELD) {
    const shape = { queries: L, keys: L, dim: D, valueDim: D };
    const exact = exactAttention(s.q, s.k, s.v!, shape);
    const est = attn.forward(s.q, s.k, s.v!, shape);
    exact.forEach((x, i) => { sum += (est[i] - x) ** 2 / D; });
  }
  const objective = sum / (HELD.length * L);
  console.log(`    window 2 fit (mse): held-out objective ${mse.heldOutLoss.toExponential(4)}, the attention's ${objective.toExponential(4)}, β ${mse.estimateLogScale!.toFixed(3)}`);
  assert.ok(Math.abs(objective - mse.heldOutLoss) <= 1e-4 * mse.heldOutLoss, `${objective} vs ${mse.heldOutLoss}`);
  // the KL fit: its hybrid with β beats the same map without β on held-out windows
  const kl = fitFeatureMap(TRAIN, { dim: D, features: 16, steps: 100, learningRate: 0.02, heldOut: HELD, window: 2 });
  const withBeta = outputError(new FavorAttention({ dim: D, ...kl.options }), HELD);
  const without = outputError(new FavorAttention({ dim: D, ...kl.options, estimateLogScale: 0 }), HELD);
  console.log(`    window 2 fit (kl): output error with β ${withBeta.toFixed(3)} (β ${kl.estimateLogScale!.toFixed(2)}), without β ${without.toFixed(3)}`);
  assert.ok(withBeta < 0.8 * without);
});

test('fitFeatureMap: early stopping on the held-out loss returns the best projection seen', () => {
  // held-out windows from another head (other centres): training on TRAIN soon makes them worse
  const other = clusteredHead(3, L, D, 5, 2.5, 4).map((s) => ({ ...s, q: s.q.map((x, i) => (i % 2 ? -x : x)) }));
  const progress: { step: number; heldOutLoss: number }[] = [];
  const fit = fitFeatureMap(TRAIN, { dim: D, features: 16, steps: 400, learningRate: 0.05, evalEvery: 5, patience: 3, heldOut: other,
                                     onProgress: (p) => progress.push(p) });
  assert.ok(fit.steps < 400, `stopped at ${fit.steps}`);
  const best = progress.reduce((a, b) => (b.heldOutLoss < a.heldOutLoss ? b : a));
  assert.is(fit.bestStep, best.step);
  assert.is(fit.heldOutLoss, best.heldOutLoss);
  assert.is(progress[progress.length - 1].step, best.step + 3 * 5);
});

test('fitFeatureMap: bad input has its code, before any work', () => {
  const s = TRAIN[0];
  const o = { dim: D, steps: 1 };
  throwsCode(() => fitFeatureMap([], o), 'INVALID_TYPE');
  throwsCode(() => fitFeatureMap([{ ...s, q: s.q.subarray(1) }], o), 'INVALID_LENGTH');
  throwsCode(() => fitFeatureMap([{ ...s, length: 0 }], o), 'INVALID_SIZE');
  throwsCode(() => fitFeatureMap([{ q: s.q, k: s.k, length: L }], { ...o, loss: 'mse' }), 'INVALID_OPTION');
  throwsCode(() => fitFeatureMap([s], { ...o, kernel: 'softmax-trig' as never }), 'INVALID_OPTION');
  throwsCode(() => fitFeatureMap([s], { ...o, learningRate: -1 }), 'INVALID_OPTION');
  throwsCode(() => fitFeatureMap([s], { ...o, heldOut: 0.5 }), 'INVALID_OPTION'); // one sample: nothing left to train
  throwsCode(() => fitFeatureMap([s, s], { ...o, heldOut: 1.5 }), 'INVALID_OPTION');
  throwsCode(() => fitFeatureMap([s], { ...o, window: -1 }), 'INVALID_OPTION');
  throwsCode(() => fitFeatureMap([s], { ...o, batchSize: 0 }), 'INVALID_SIZE');
  throwsCode(() => fitFeatureMap([s], { ...o, centerKeys: new Float32Array(3) }), 'INVALID_LENGTH');
  throwsCode(() => fitFeatureMap([s], { ...o, onProgress: 3 as never }), 'INVALID_TYPE');
  throwsCode(() => fitFeatureMap([s], { ...o, rate: 1 } as never), 'UNKNOWN_OPTION');
  const nan = s.k.slice(); nan[5] = NaN;
  throwsCode(() => fitFeatureMap([{ ...s, k: nan }], o), 'NON_FINITE');
});

test.run();
