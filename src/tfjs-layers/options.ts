// The configuration of the MultiHeadAttention layer: Keras's arguments (numHeads, keyDim, …) and ours on top
// (attention mode and the FavorAttention options), checked once in the constructor. A value read back from a
// model.json arrives with null for "not set" (tfjs writes undefined as null): null counts as undefined.
import { PerformerError } from '../arguments/errors.ts';
import { checkBoolean, checkChoice, checkSize, describe } from '../arguments/validate.ts';
import { KERNEL_NAMES, type KernelName } from '../feature-maps/kernels.ts';
import { PROJECTION_KINDS, type ProjectionKind } from '../projection/projection.ts';
import { checkSeed } from '../projection/rng.ts';

/** 'exact': softmax attention, Keras's layer; 'favor': FAVOR+; 'hybrid': an exact window + FAVOR+ for the rest. */
export type AttentionMode = 'exact' | 'favor' | 'hybrid';
export const ATTENTION_MODES: readonly AttentionMode[] = ['exact', 'favor', 'hybrid'];

/** Initializers, regularizers and constraints as tfjs-layers takes them: an instance, a name, or { className, config }. */
export type Serializable = string | { className: string; config?: Record<string, unknown> } | { getClassName(): string };

/** The names of Keras's initializer, regularizer and constraint arguments. */
export const WEIGHT_ARGUMENTS = ['kernelInitializer', 'biasInitializer', 'kernelRegularizer', 'biasRegularizer', 'activityRegularizer',
                                 'kernelConstraint', 'biasConstraint'] as const;

export interface MultiHeadAttentionArgs extends Partial<Record<(typeof WEIGHT_ARGUMENTS)[number], Serializable>> {
  numHeads: number;
  keyDim: number;
  /** Default keyDim. */
  valueDim?: number;
  /** Dropout rate on the attention weights (exact mode only: FAVOR+ never forms them). Default 0. */
  dropout?: number;
  /** Default true. */
  useBias?: boolean;
  /** The last dimension(s) of the output; default the query's last dimension. */
  outputShape?: number | number[];
  /** The sequence axis only: 1 (or -2, [1], [-2]) for inputs [batch, seq, dim]; default that. */
  attentionAxes?: number | number[];
  /** The shapes the layer was built for (read by fromConfig; getConfig writes them). */
  queryShape?: (number | null)[];
  keyShape?: (number | null)[];
  valueShape?: (number | null)[];

  /** Default 'exact'. */
  attention?: AttentionMode;
  /** Projection rows m (favor, hybrid). Default 256. */
  features?: number;
  /** Feature map (FavorAttention's kernel). Default 'softmax'. */
  kernel?: KernelName;
  /** How the starting projection is drawn: 'orthogonal' (default), 'iid', 'structured'; 'none' for the generalized kernels. */
  projection?: ProjectionKind | 'none';
  /** Seed of the starting projection; head h draws with seed + h. Default 0. */
  seed?: number;
  /** The exact window w of hybrid attention (|i − j| ≤ w); required, ≥ 1, with attention 'hybrid'. */
  window?: number;
  /**
   * Key centring: true subtracts each call's mean key (bidirectional only); 'fitted' subtracts a fixed centre per
   * head, held in the weight favor/key_center (performerize sets it). Default false.
   */
  centerKeys?: boolean | 'fitted';
  /** β of the hybrid (the same for every head until performerize fits one per head). Default 0. */
  estimateLogScale?: number;
  /** Whether the projection is a trainable weight (attention 'favor' only). Default false. */
  trainableProjection?: boolean;

  // tfjs-layers' base layer arguments
  name?: string;
  trainable?: boolean;
  dtype?: string;
  inputShape?: (number | null)[];
  batchInputShape?: (number | null)[];
  batchSize?: number;
  inputDType?: string;
}

const KERAS_KEYS = ['numHeads', 'keyDim', 'valueDim', 'dropout', 'useBias', 'outputShape', 'attentionAxes', ...WEIGHT_ARGUMENTS, 'queryShape',
  'keyShape', 'valueShape'] as const;
const OUR_KEYS = ['attention', 'features', 'kernel', 'projection', 'seed', 'window', 'centerKeys', 'estimateLogScale', 'trainableProjection'] as const;
const BASE_KEYS = ['name', 'trainable', 'dtype', 'inputShape', 'batchInputShape', 'batchSize', 'inputDType', 'weights'] as const;
export const ARG_KEYS: readonly string[] = [...KERAS_KEYS, ...OUR_KEYS, ...BASE_KEYS];

/** The FAVOR+ part of the configuration (favor and hybrid modes). */
export interface FavorLayerOptions {
  features: number;
  kernel: KernelName;
  projection: ProjectionKind | 'none';
  seed: number;
  window: number;
  centerKeys: boolean | 'fitted';
  estimateLogScale: number;
  trainableProjection: boolean;
}

export interface LayerOptions {
  numHeads: number;
  keyDim: number;
  valueDim: number;
  dropout: number;
  useBias: boolean;
  outputShape: number[] | null;
  attentionAxes: number[] | null;
  attention: AttentionMode;
  favor: FavorLayerOptions | null;
}

/** Checks every option the layer reads (PerformerError before anything is built); null counts as not set. */
export function checkLayerArgs(args: MultiHeadAttentionArgs): LayerOptions {
  if (args === null || typeof args !== 'object') throw new PerformerError('INVALID_TYPE', `MultiHeadAttention: args must be an object, got ${describe(args)}`);
  const raw = args as unknown as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!ARG_KEYS.includes(key)) throw new PerformerError('UNKNOWN_OPTION', `MultiHeadAttention: unknown option '${key}' (known: ${ARG_KEYS.join(', ')})`);
  }
  const a = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== null)) as Partial<MultiHeadAttentionArgs>;
  const numHeads = checkSize('numHeads', a.numHeads);
  const keyDim = checkSize('keyDim', a.keyDim);
  const valueDim = a.valueDim === undefined ? keyDim : checkSize('valueDim', a.valueDim);
  const dropout = a.dropout ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) {
    throw new PerformerError('INVALID_OPTION', `dropout must be a number in [0, 1), got ${describe(dropout)}`);
  }
  const attention = checkChoice('attention', a.attention, ATTENTION_MODES, 'exact');
  const options: LayerOptions = {
    numHeads, keyDim, valueDim, dropout,
    useBias: checkBoolean('useBias', a.useBias, true),
    outputShape: checkOutputShape(a.outputShape),
    attentionAxes: checkAttentionAxes(a.attentionAxes),
    attention,
    favor: null,
  };
  const favorKeys = OUR_KEYS.filter((k) => k !== 'attention' && a[k] !== undefined);
  if (attention === 'exact') {
    if (favorKeys.length) throw new PerformerError('INVALID_OPTION', `${favorKeys.join(', ')}: FAVOR+ options need attention 'favor' or 'hybrid', not 'exact'`);
    return options;
  }
  if (dropout > 0) {
    throw new PerformerError('INVALID_OPTION', `dropout drops attention weights, which ${attention} attention never forms: use dropout 0 (or attention 'exact')`);
  }
  const window = a.window === undefined ? 0 : a.window;
  if (typeof window !== 'number' || !Number.isInteger(window) || window < 0) throw new PerformerError('INVALID_OPTION', `window must be an integer ≥ 0, got ${describe(window)}`);
  if (attention === 'hybrid' && window < 1) throw new PerformerError('INVALID_OPTION', `attention 'hybrid' needs window ≥ 1 (the exact band |i − j| ≤ window), got ${window}`);
  if (attention === 'favor' && window > 0) throw new PerformerError('INVALID_OPTION', `attention 'favor' has no exact window: use attention 'hybrid' for window ${window}`);
  const kernel = checkChoice('kernel', a.kernel, KERNEL_NAMES, 'softmax');
  const estimateLogScale = a.estimateLogScale ?? 0;
  if (typeof estimateLogScale !== 'number' || !Number.isFinite(estimateLogScale)) {
    throw new PerformerError('INVALID_OPTION', `estimateLogScale must be a finite number, got ${describe(estimateLogScale)}`);
  }
  if (a.trainableProjection === true && window > 0) {
    throw new PerformerError('INVALID_OPTION', `trainableProjection needs attention 'favor': the hybrid's backward pass has no projection gradient (performerize fits hybrid maps with fitFeatureMap)`);
  }
  options.favor = {
    features: checkSize('features', a.features ?? 256),
    kernel,
    projection: checkChoice('projection', a.projection, [...PROJECTION_KINDS, 'none'] as const, 'orthogonal'),
    seed: checkSeed(a.seed ?? 0),
    window,
    centerKeys: a.centerKeys === 'fitted' ? 'fitted' : checkBoolean('centerKeys', a.centerKeys, false),
    estimateLogScale,
    trainableProjection: checkBoolean('trainableProjection', a.trainableProjection, false),
  };
  return options;
}

function checkOutputShape(value: unknown): number[] | null {
  if (value === undefined) return null;
  const dims = Array.isArray(value) ? value : [value];
  if (dims.length === 0) throw new PerformerError('INVALID_OPTION', 'outputShape must be a size or a non-empty array of sizes, got []');
  return dims.map((d, i) => checkSize(`outputShape[${i}]`, d));
}

/** The sequence axis only (inputs are [batch, seq, dim]): 1 or −2, alone or in a one-element array. */
function checkAttentionAxes(value: unknown): number[] | null {
  if (value === undefined) return null;
  const axes = Array.isArray(value) ? value : [value];
  if (axes.length !== 1 || (axes[0] !== 1 && axes[0] !== -2)) {
    throw new PerformerError('INVALID_OPTION', `attentionAxes: this layer attends over the sequence axis only (axis 1 of [batch, seq, dim], ` +
      `i.e. 1, -2, [1] or [-2]), got ${JSON.stringify(value)}`);
  }
  return [1];
}
