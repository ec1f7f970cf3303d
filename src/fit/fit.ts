// fitFeatureMap: fits the projection W of a feature map to one attention head from sample Q/K(/V)
// windows, with Adam on the package's own gradients (FavorAttention.features / featuresBackward, no tfjs).
// The loss and its gradient: fit-loss.ts; the method and its caveats: docs/learned-feature-maps.md.
import { FavorAttention } from '../favor/attention.ts';
import { PerformerError } from '../arguments/errors.ts';
import { checkBoolean, checkChoice, checkOptions, checkSize, describe } from '../arguments/validate.ts';
import { checkCount, checkPositive, checkSamples, keyShift, shifted, splitSamples } from './fit-arguments.ts';
import { checkSeed, Rng } from '../projection/rng.ts';
import { prepareSample, sampleLoss, startingBeta, type FitLoss, type PreparedSample, type SampleDots, type WindowRule } from './fit-loss.ts';
import { featureDots, featureDotsBackward } from './fit-gemm.ts';

/** One window of one head: q, k (and v) are length × dim (v: length × valueDim), row-major, before any 1/√d scale. */
export interface FitSample {
  q: Float32Array;
  k: Float32Array;
  v?: Float32Array;
  length: number;
}

/** The kernels whose features are positive, so that φ(q)·φ(k) are weights: the ones fitFeatureMap fits. */
export type FittableKernel = 'softmax' | 'softmax-hyperbolic' | 'softmax-hyperbolic-normalized';
const FITTABLE: readonly FittableKernel[] = ['softmax', 'softmax-hyperbolic', 'softmax-hyperbolic-normalized'];

export interface FitProgress {
  step: number;
  /** The loss of this step's training windows (all of them in full batch) at the current projection. */
  trainLoss: number;
  /** NaN without held-out samples. */
  heldOutLoss: number;
}

export interface FitFeatureMapOptions {
  /** Query/key dimension d of the head. */
  dim: number;
  /** Projection rows m. Default 64. */
  features?: number;
  /** Default 'softmax-hyperbolic-normalized'. */
  kernel?: FittableKernel;
  /** Seed of the starting point, an orthogonal random projection ('chi' norms). Default 0. */
  seed?: number;
  /** Adam steps. Default 500. */
  steps?: number;
  /**
   * Training windows per step: a fresh draw without replacement each step (seeded by `seed`); default all
   * (full batch). The cost of a step is proportional to it.
   */
  batchSize?: number;
  /** Adam step size. Default 0.01. */
  learningRate?: number;
  /** 'kl' (default): attention KL, exact ‖ estimated; 'mse': output error, needs every sample's v. */
  loss?: FitLoss;
  /** Causal weights (query i sees keys j ≤ i). Default false. */
  causal?: boolean;
  /** Held-out windows, or a fraction in (0, 1) of `samples` (the last ones) kept out of training. */
  heldOut?: FitSample[] | number;
  /** Held-out loss evaluated every this many steps (with onProgress). Default 10. */
  evalEvery?: number;
  /** Stop after this many evaluations without a better held-out loss. Default 5. */
  patience?: number;
  /** Exact weights within |i − j| ≤ window, the map estimates the rest (the hybrid attention). Default 0. */
  window?: number;
  /** A shift subtracted from every key (Float32Array(dim)), or true: the mean training key. */
  centerKeys?: Float32Array | true;
  /** Called after each evaluation. */
  onProgress?: (progress: FitProgress) => void;
}

/** What `new FavorAttention({ dim, ...result.options })` takes. */
export interface FittedMapOptions {
  projection: Float32Array;
  features: number;
  kernel: FittableKernel;
  causal: boolean;
  window?: number;
  /** With a window: the learned β (FavorAttention's estimateLogScale), so that the attention is the fitted hybrid. */
  estimateLogScale?: number;
  centerKeys?: Float32Array;
}

export interface FitResult {
  options: FittedMapOptions;
  /** Training loss at the returned projection. */
  trainLoss: number;
  /** Held-out loss at the returned projection (the best seen); NaN without held-out samples. */
  heldOutLoss: number;
  /**
   * With a window only: β, the log-scale of the estimated weights against the exact ones in the fitted hybrid
   * (ŵ = e^β·φ(q)·φ(k) outside the window), learned with W; also in `options` (FavorAttention's estimateLogScale).
   */
  estimateLogScale?: number;
  /** Steps taken (fewer than `steps` when stopped early), and the step of the returned projection. */
  steps: number;
  bestStep: number;
}

const OPTION_KEYS = ['dim', 'features', 'kernel', 'seed', 'steps', 'batchSize', 'learningRate', 'loss', 'causal', 'heldOut', 'evalEvery',
  'patience', 'window', 'centerKeys', 'onProgress'] as const;

// Adam (Kingma & Ba 2015) with its usual constants
const BETA1 = 0.9;
const BETA2 = 0.999;
const ADAM_EPSILON = 1e-8;
// half-width of the search for the starting β (natural-log units)
const BETA_BRACKET = 40;

/** Fits W for one head. Throws PerformerError (before any work) on bad input. See docs/learned-feature-maps.md. */
export function fitFeatureMap(samples: readonly FitSample[], options: FitFeatureMapOptions): FitResult {
  const o = checkOptions<FitFeatureMapOptions>('fitFeatureMap', options ?? null, OPTION_KEYS);
  const dim = checkSize('dim', o.dim);
  const m = checkSize('features', o.features ?? 64);
  const kernel = checkChoice('kernel', o.kernel, FITTABLE, 'softmax-hyperbolic-normalized');
  const seed = checkSeed(o.seed ?? 0);
  const steps = checkSize('steps', o.steps ?? 500);
  const rate = checkPositive('learningRate', o.learningRate ?? 0.01);
  const loss = checkChoice('loss', o.loss, ['kl', 'mse'] as const, 'kl');
  const causal = checkBoolean('causal', o.causal, false);
  const evalEvery = checkSize('evalEvery', o.evalEvery ?? 10);
  const patience = checkSize('patience', o.patience ?? 5);
  const window = o.window === undefined ? 0 : checkCount('window', o.window);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') {
    throw new PerformerError('INVALID_TYPE', `onProgress must be a function, got ${describe(o.onProgress)}`);
  }
  const [train, held] = splitSamples(checkSamples('samples', samples, dim, loss), o.heldOut, dim, loss);
  const center = keyShift(o.centerKeys, train, dim);
  const rule: WindowRule = { causal, window };
  const prepare = (s: FitSample) => prepareSample(s.q, center ? shifted(s.k, center, dim) : s.k, s.v, s.length, dim, rule, loss);
  const trainSet = train.map(prepare);
  const heldSet = held.map(prepare);
  const batchSize = Math.min(checkSize('batchSize', o.batchSize ?? trainSet.length), trainSet.length);
  const batches = new Rng(seed);

  const base = new FavorAttention({ dim, features: m, kernel, seed, projection: 'orthogonal' });
  // the parameters: W (m × dim, an orthogonal draw with 'chi' norms to start), then β (with a window)
  const params = new Float64Array(m * dim + 1);
  params.set(base.projection);
  params[m * dim] = window ? initialBeta(base, trainSet, rule, loss) : 0;
  const learnBeta = window > 0;
  const moment1 = new Float64Array(params.length);
  const moment2 = new Float64Array(params.length);
  const projectionOf = () => Float32Array.from(params.subarray(0, m * dim));
  let best = { w: projectionOf(), beta: params[m * dim], train: Infinity, held: Infinity, step: 0 };
  let sinceBest = 0;
  let step = 0;
  for (; step <= steps; step++) {
    const attn = base.withProjection(projectionOf());
    const beta = params[m * dim];
    const last = step === steps;
    const batch = batchSize === trainSet.length ? trainSet : draw(trainSet, batchSize, batches);
    const { loss: trainLoss, grad } = totalLoss(attn, batch, rule, loss, beta, !last);
    if (step % evalEvery === 0 || last) {
      const heldOutLoss = heldSet.length ? totalLoss(attn, heldSet, rule, loss, beta, false).loss : NaN;
      o.onProgress?.({ step, trainLoss, heldOutLoss });
      const score = heldSet.length ? heldOutLoss : trainLoss;
      if (score < (heldSet.length ? best.held : best.train)) {
        best = { w: projectionOf(), beta, train: trainLoss, held: heldOutLoss, step };
        sinceBest = 0;
      } else if (heldSet.length && ++sinceBest >= patience) {
        break; // early stopping on the held-out loss
      }
    }
    if (last) break;
    if (!learnBeta) grad![m * dim] = 0;
    adamStep(params, grad!, moment1, moment2, step + 1, rate);
  }
  return {
    options: { projection: best.w, features: m, kernel, causal, ...(window ? { window, estimateLogScale: best.beta } : {}),
               ...(center ? { centerKeys: center } : {}) },
    trainLoss: best.train,
    heldOutLoss: heldSet.length ? best.held : NaN,
    ...(learnBeta ? { estimateLogScale: best.beta } : {}),
    steps: Math.min(step, steps),
    bestStep: best.step,
  };
}

interface WindowFeatures extends SampleDots {
  phiQ: Float32Array;
  phiK: Float32Array;
}

function featuresOf(attn: FavorAttention, s: PreparedSample): WindowFeatures {
  const fq = attn.features(s.q, s.length);
  const fk = attn.features(s.k, s.length);
  return { phiQ: fq.phi, phiK: fk.phi, logQ: fq.logScale, logK: fk.logScale, D: featureDots(fq.phi, fk.phi, s.length, attn.featureCount) };
}

/**
 * The starting β (with a window): the minimizer of the training loss over β for the starting W. The KL is
 * convex in β (a log-sum-exp of affine functions); a golden-section search from the mean log-ratio of the
 * two parts (fit-loss.ts startingBeta), ±BETA_BRACKET, to a width of 1e-3.
 */
function initialBeta(attn: FavorAttention, set: PreparedSample[], rule: WindowRule, loss: FitLoss): number {
  const features = set.map((s) => featuresOf(attn, s));
  let sum = 0;
  let count = 0;
  set.forEach((s, i) => {
    const part = startingBeta(s, features[i], rule);
    sum += part.sum;
    count += part.count;
  });
  const centre = count ? sum / count : 0;
  const at = (beta: number) => set.reduce((acc, s, i) => acc + sampleLoss(s, features[i], rule, loss, beta, 1).loss, 0);
  const ratio = (Math.sqrt(5) - 1) / 2;
  let [lo, hi] = [centre - BETA_BRACKET, centre + BETA_BRACKET];
  let x1 = hi - ratio * (hi - lo);
  let x2 = lo + ratio * (hi - lo);
  let [f1, f2] = [at(x1), at(x2)];
  while (hi - lo > 1e-3) {
    if (f1 <= f2) { hi = x2; x2 = x1; f2 = f1; x1 = hi - ratio * (hi - lo); f1 = at(x1); }
    else { lo = x1; x1 = x2; f1 = f2; x2 = lo + ratio * (hi - lo); f2 = at(x2); }
  }
  return (lo + hi) / 2;
}

/**
 * Mean loss per query row over the samples, and when asked its gradient: [dW (m × dim), dβ].
 * Exported for the tests (test/fit/fit.test.ts); not public.
 */
export function totalLoss(attn: FavorAttention, set: PreparedSample[], rule: WindowRule, loss: FitLoss, beta: number, withGradient: boolean):
    { loss: number; grad?: Float64Array } {
  const rows = set.reduce((n, s) => n + s.length, 0);
  const size = attn.projection.length;
  const M = attn.featureCount;
  const grad = withGradient ? new Float64Array(size + 1) : undefined;
  let total = 0;
  for (const s of set) {
    const f = featuresOf(attn, s);
    const G = grad ? new Float32Array(s.length * s.length) : undefined;
    const part = sampleLoss(s, f, rule, loss, beta, 1 / rows, G);
    total += part.loss;
    if (!grad || !G) continue;
    grad[size] += part.dBeta;
    const dPhi = featureDotsBackward(G, f.phiQ, f.phiK, s.length, M);
    for (const [x, g] of [[s.q, dPhi.q], [s.k, dPhi.k]] as const) {
      const back = attn.featuresBackward(x, s.length, g);
      back.dW!.forEach((value, i) => { grad[i] += value; });
    }
  }
  return { loss: total / rows, grad };
}

/** n of the windows, without replacement (a partial Fisher–Yates shuffle). */
function draw<T>(set: readonly T[], n: number, rng: Rng): T[] {
  const pool = set.slice();
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(rng.uniform() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, n);
}

function adamStep(w: Float64Array, g: Float64Array, m1: Float64Array, m2: Float64Array, t: number, rate: number): void {
  const c1 = 1 - BETA1 ** t;
  const c2 = 1 - BETA2 ** t;
  for (let i = 0; i < w.length; i++) {
    m1[i] = BETA1 * m1[i] + (1 - BETA1) * g[i];
    m2[i] = BETA2 * m2[i] + (1 - BETA2) * g[i] * g[i];
    w[i] -= (rate * (m1[i] / c1)) / (Math.sqrt(m2[i] / c2) + ADAM_EPSILON);
  }
}
