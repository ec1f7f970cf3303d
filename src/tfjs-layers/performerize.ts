// performerize: switch a trained model's MultiHeadAttention layers from exact attention to hybrid (an exact
// window + a fitted FAVOR+ map) or FAVOR+, with one feature map fitted per head.
//   1. Runs the model on the sample inputs with every attention layer exact, recording each layer's projected
//      q, k, v per head and per sequence (padding keys, where a key mask hides them, are dropped).
//   2. Per head, fits W (and β with a window, and a key centre) with fitFeatureMap on the training sequences; a
//      fifth of them (when there are ≥ 5) is its validation set for early stopping.
//   3. Measures, on the held-out sequences, the relative error of the head's output against exact attention,
//      and that of mean(V) (every query attending uniformly) for scale.
//   4. Switches each layer (layer.switchAttention) to the fitted maps.
// The error is per layer given exact inputs: errors compound through the layers of the model, which the caller
// measures on its own output (examples/performerize-use does, on sentence embeddings).
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { PerformerError } from '../arguments/errors.ts';
import { checkChoice, checkOptions, checkSize, describe } from '../arguments/validate.ts';
import { exactAttention } from '../exact/exact.ts';
import { FavorAttention } from '../favor/attention.ts';
import { fitFeatureMap, type FitSample, type FittableKernel } from '../fit/fit.ts';
import { MultiHeadAttention } from './multi-head-attention.ts';
import { recorders, type ProjectedCall } from './recording.ts';

export interface PerformerizeOptions {
  /** Default 'hybrid'. */
  attention?: 'hybrid' | 'favor';
  /** The exact window of the hybrid. Default 16. */
  window?: number;
  /** Projection rows m of the fitted maps. Default 64. */
  features?: number;
  /** Default 'softmax-hyperbolic-normalized' (fitFeatureMap's). */
  kernel?: FittableKernel;
  /** Fit a key centre per head (subtracted from every key). Default true. */
  centerKeys?: boolean;
  /** fitFeatureMap's: Adam steps (default 300), windows per step (default all), step size (default 0.01), seed (default 0). */
  steps?: number;
  batchSize?: number;
  learningRate?: number;
  seed?: number;
  /** The fraction of the sample sequences (the last ones) kept out of fitting, for the report. Default 0.25. */
  heldOut?: number;
  /** Called during each head's fit (after each of fitFeatureMap's evaluations). */
  onProgress?: (progress: PerformerizeProgress) => void;
}

export interface PerformerizeProgress {
  layer: string;
  /** Heads fitted so far over all layers, and their total. */
  done: number;
  total: number;
  head: number;
  step: number;
  trainLoss: number;
  heldOutLoss: number;
}

export interface HeadReport {
  head: number;
  /** ‖hybrid − exact‖ / ‖exact‖ of the head's output over the held-out sequences. */
  error: number;
  /** The same for mean(V). */
  meanVError: number;
  /** fitFeatureMap's result: steps taken, the step kept, β (with a window). */
  steps: number;
  bestStep: number;
  estimateLogScale?: number;
}

export interface LayerReport {
  name: string;
  heads: HeadReport[];
  /** Over all heads of the layer (errors as above, the heads' squared errors summed). */
  error: number;
  meanVError: number;
  /** The dropout rate the layer had (FAVOR+ has no attention weights to drop): it is 0 after. */
  droppedDropout?: number;
}

export interface PerformerizeReport {
  layers: LayerReport[];
  trainSequences: number;
  heldOutSequences: number;
  seconds: number;
}

/** A model's input (one tensor or a list), or for a single layer [query, value?]; each is run on its own. */
export type SampleInput = tf.Tensor | tf.Tensor[];

const OPTION_KEYS = ['attention', 'window', 'features', 'kernel', 'centerKeys', 'steps', 'batchSize', 'learningRate', 'seed', 'heldOut', 'onProgress'] as const;

/** One head's sequences: q, k (L × K) and v (L × V). */
interface HeadWindows { windows: FitSample[]; valueDim: number }

export async function performerize(target: LayersModel | MultiHeadAttention, inputs: readonly SampleInput[], options: PerformerizeOptions = {}): Promise<PerformerizeReport> {
  const started = Date.now();
  const o = checkOptions<PerformerizeOptions>('performerize', options, OPTION_KEYS);
  const attention = checkChoice('attention', o.attention, ['hybrid', 'favor'] as const, 'hybrid');
  const window = attention === 'hybrid' ? checkSize('window', o.window ?? 16) : 0;
  const heldOut = o.heldOut ?? 0.25;
  if (typeof heldOut !== 'number' || !(heldOut > 0 && heldOut < 1)) throw new PerformerError('INVALID_OPTION', `heldOut must be a fraction in (0, 1), got ${describe(heldOut)}`);
  if (!Array.isArray(inputs) || inputs.length === 0) throw new PerformerError('INVALID_TYPE', `performerize: inputs must be a non-empty array of model inputs, got ${describe(inputs)}`);
  const layers = attentionLayers(target);
  if (!layers.length) throw new PerformerError('INVALID_OPTION', 'performerize: the model has no MultiHeadAttention layer');
  for (const l of layers) {
    if (l.options.attention !== 'exact') throw new PerformerError('INVALID_OPTION', `performerize: layer ${l.name} is already in ${l.options.attention} mode (record from exact attention)`);
  }

  const recorded = record(target, layers, inputs);
  const sequences = recorded.get(layers[0])!.heads[0].windows.length;
  const held = Math.max(1, Math.round(sequences * heldOut));
  if (held >= sequences) throw new PerformerError('INVALID_OPTION', `performerize: ${sequences} sequences leave none to fit with heldOut ${heldOut}`);
  const total = layers.reduce((n, l) => n + l.numHeads, 0);
  let done = 0;
  const reports: LayerReport[] = [];
  for (const layer of layers) {
    const { heads, causal } = recorded.get(layer)!;
    const fitted: { projection: Float32Array; logScale?: number; keyCenter?: Float32Array }[] = [];
    const headReports: HeadReport[] = [];
    const sums = { err: 0, ref: 0, meanV: 0 };
    for (const [h, { windows, valueDim }] of heads.entries()) {
      const train = windows.slice(0, windows.length - held);
      const test = windows.slice(windows.length - held);
      const validation = train.length >= 5 ? 0.2 : undefined;
      const fit = fitFeatureMap(train, {
        dim: layer.keyDim, features: o.features ?? 64, kernel: o.kernel, seed: o.seed, steps: o.steps ?? 300, batchSize: o.batchSize,
        learningRate: o.learningRate, causal, heldOut: validation, evalEvery: 20, patience: 4, ...(window ? { window } : {}),
        ...(o.centerKeys ?? true ? { centerKeys: true as const } : {}),
        onProgress: o.onProgress && ((p) => o.onProgress!({ layer: layer.name, done, total, head: h, ...p })),
      });
      const approx = new FavorAttention({ dim: layer.keyDim, ...fit.options });
      const e = headErrors(test, approx, layer.keyDim, valueDim, causal);
      sums.err += e.err; sums.ref += e.ref; sums.meanV += e.meanV;
      headReports.push({ head: h, error: Math.sqrt(e.err / e.ref), meanVError: Math.sqrt(e.meanV / e.ref), steps: fit.steps, bestStep: fit.bestStep,
        ...(fit.estimateLogScale === undefined ? {} : { estimateLogScale: fit.estimateLogScale }) });
      fitted.push({ projection: fit.options.projection, logScale: fit.estimateLogScale, keyCenter: fit.options.centerKeys });
      done++;
      await tf.nextFrame(); // lets a page repaint between heads
    }
    const dropout = layer.options.dropout;
    layer.switchAttention({ attention, features: o.features ?? 64, kernel: fit0Kernel(o.kernel), window: window || undefined, dropout: 0,
      centerKeys: fitted[0].keyCenter ? 'fitted' : false, estimateLogScale: 0, seed: o.seed }, fitted);
    reports.push({ name: layer.name, heads: headReports, error: Math.sqrt(sums.err / sums.ref), meanVError: Math.sqrt(sums.meanV / sums.ref),
      ...(dropout > 0 ? { droppedDropout: dropout } : {}) });
  }
  return { layers: reports, trainSequences: sequences - held, heldOutSequences: held, seconds: (Date.now() - started) / 1000 };
}

const fit0Kernel = (k: FittableKernel | undefined): FittableKernel => k ?? 'softmax-hyperbolic-normalized';

/** The MultiHeadAttention layers of a model (nested models included), or the layer itself. */
function attentionLayers(target: unknown): MultiHeadAttention[] {
  if (target instanceof MultiHeadAttention) return [target];
  const layers = (target as { layers?: unknown[] })?.layers;
  if (!Array.isArray(layers)) throw new PerformerError('INVALID_TYPE', `performerize: expected a LayersModel or a MultiHeadAttention, got ${describe(target)}`);
  return layers.flatMap((l) => (l instanceof MultiHeadAttention ? [l] : Array.isArray((l as { layers?: unknown }).layers) ? attentionLayers(l) : []));
}

/** Runs every input through the target, recording each layer's heads: one window per sequence (batch entry). */
function record(target: LayersModel | MultiHeadAttention, layers: MultiHeadAttention[], inputs: readonly SampleInput[]) {
  const out = new Map<MultiHeadAttention, { heads: HeadWindows[]; causal: boolean }>();
  for (const layer of layers) {
    out.set(layer, { heads: Array.from({ length: layer.numHeads }, () => ({ windows: [], valueDim: layer.valueDim })), causal: false });
    recorders.set(layer, (call: ProjectedCall) => {
      const entry = out.get(layer)!;
      const [B, H, T, K] = call.q.shape;
      const S = call.k.shape[2];
      const V = call.v.shape[3];
      if (T !== S) throw new PerformerError('INVALID_OPTION', `performerize: layer ${layer.name} attends ${T} queries to ${S} keys; maps are fitted on self-attention (T = S)`);
      if (entry.heads[0].windows.length && entry.causal !== call.causal) throw new PerformerError('INVALID_OPTION', `performerize: layer ${layer.name} was called both causal and not`);
      entry.causal = call.causal;
      const [q, k, v] = [call.q.dataSync(), call.k.dataSync(), call.v.dataSync()];
      for (let b = 0; b < B; b++) {
        // the positions a key mask keeps (padding dropped from both sides: self-attention)
        const keep = Array.from({ length: T }, (_, i) => i).filter((i) => !call.keyMask || call.keyMask[b * S + i]);
        for (let h = 0; h < H; h++) {
          const rows = (x: ArrayLike<number>, E: number) => {
            const y = new Float32Array(keep.length * E);
            keep.forEach((i, r) => { for (let e = 0; e < E; e++) y[r * E + e] = x[((b * H + h) * T + i) * E + e]; });
            return y;
          };
          entry.heads[h].windows.push({ q: rows(q, K), k: rows(k, K), v: rows(v, V), length: keep.length });
        }
      }
    });
  }
  try {
    for (const input of inputs) {
      tf.tidy(() => {
        if (target instanceof MultiHeadAttention) {
          const [query, value] = Array.isArray(input) ? input : [input];
          target.apply(query, { value: value ?? query });
        } else {
          (target as LayersModel).predict(input);
        }
      });
    }
  } finally {
    for (const layer of layers) recorders.delete(layer);
  }
  return out;
}

/** Squared errors summed over the held-out windows: approx − exact, mean(V) − exact, and ‖exact‖². */
function headErrors(test: FitSample[], approx: FavorAttention, K: number, V: number, causal: boolean) {
  let [err, ref, meanV] = [0, 0, 0];
  for (const s of test) {
    const shape = { queries: s.length, dim: K, valueDim: V };
    const exact = exactAttention(s.q, s.k, s.v!, shape, { causal });
    const est = approx.forward(s.q, s.k, s.v!, shape);
    // mean(V) over the keys query i sees: all of them, or (causal) the first i + 1, kept as a running mean
    const mean = new Float64Array(V);
    if (!causal) for (let j = 0; j < s.length; j++) for (let e = 0; e < V; e++) mean[e] += s.v![j * V + e] / s.length;
    for (let i = 0; i < s.length; i++) {
      if (causal) for (let e = 0; e < V; e++) mean[e] += (s.v![i * V + e] - mean[e]) / (i + 1);
      for (let e = 0; e < V; e++) {
        const x = exact[i * V + e];
        err += (est[i * V + e] - x) ** 2;
        meanV += (mean[e] - x) ** 2;
        ref += x ** 2;
      }
    }
  }
  return { err, ref, meanV };
}
