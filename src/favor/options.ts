// The options of FavorAttention and of its calls: their types (with defaults, in the doc comments), the keys
// each call accepts, and the checks of the values that are particular to FAVOR+ (the generic checks are in
// src/arguments/validate.ts).
import type { Float32Result } from '../arguments/buffers.ts';
import { PerformerError } from '../arguments/errors.ts';
import type { ResolvedShape } from '../arguments/shapes.ts';
import { checkOptions, checkOut, describe } from '../arguments/validate.ts';
import type { Gradients } from './backward.ts';
import type { KeyCentering } from '../hybrid/centering.ts';
import { DEFAULT_KERNEL_EPSILON, type KernelName } from '../feature-maps/kernels.ts';
import type { ProjectionKind, RowNorms } from '../projection/projection.ts';

export interface FavorAttentionOptions {
  /** Query/key dimension d (per head). */
  dim: number;
  /** Random features m (projection rows). Default 256; without projection it is `dim`. */
  features?: number;
  /** Feature map. Default 'softmax' (positive random features, FAVOR+). */
  kernel?: KernelName;
  /**
   * 'orthogonal' (default), 'iid', 'structured' (SORF blocks Π·Ĥ·D₁·Π·Ĥ·D₂·Π·Ĥ·D₃, dim a power of two: an
   * O(d log d) transform instead of the projection GEMM), 'none' (generalized kernels only: φ on x
   * itself), or an explicit m×dim matrix.
   */
  projection?: ProjectionKind | 'none' | Float32Array;
  /** Row norms of orthogonal and structured rows: 'chi' (default, unbiased) or 'sqrt-d'; 'sqrt-d' also rescales iid rows. */
  norms?: RowNorms;
  /** Seed of the projection, an integer in [0, 2^32). Default 0. */
  seed?: number;
  /** Unidirectional (autoregressive) attention. Default false. */
  causal?: boolean;
  /** ε added to generalized features (relu, elu1, exp, abs, gelu). Default 1e-3; ignored by softmax kernels. */
  epsilon?: number;
  /** Rows per streamed chunk (the wasm workspace scales with it). Default 128; 64 when causal. */
  chunkSize?: number;
  /**
   * Hybrid attention (docs/hybrid-attention.md): the keys within w positions of a query (|i − j| ≤ w, causal
   * i − w ≤ j ≤ i; query i aligned to key i + keys − queries) get exact softmax weights, the others FAVOR+, in one
   * normalizer. An integer ≥ 0; default 0 (plain FAVOR+). Softmax kernels only.
   */
  window?: number;
  /**
   * β, the log-scale of the FAVOR+ part of hybrid attention: the estimate φ(q)·φ(k) of the keys outside the window
   * weighs e^β against the exact window's exp(q̂·k̂) (docs/hybrid-attention.md). A learned normalized map's
   * φ(q)·φ(k) is ≤ 1/m, not on the scale of exp(q̂·k̂): fitFeatureMap with a window learns β with the map and
   * returns it in `options`. A finite number; default 0 (the unbiased estimators' scale). Only meaningful with
   * window > 0: without a window it cancels in the normalizer.
   */
  estimateLogScale?: number;
  /**
   * Key centring: true subtracts each call's mean key per (batch, head) over unmasked keys (bidirectional only);
   * a Float32Array(dim) subtracts that fixed vector (causal too). Softmax is unchanged; FAVOR+ variance falls.
   */
  centerKeys?: KeyCentering;
}

export interface FavorBackwardOptions {
  /** batch × keys bytes, nonzero = keep (as in forward). */
  keyMask?: Uint8Array;
  /**
   * Also return dW = ∂loss/∂projection (m × dim, W acting on x̂ = x·d^(-1/4) for the softmax kernels, summed
   * over batch and heads), to learn the feature map. Default false (one more O(L·m·d) GEMM per chunk).
   * Needs a projection (random or explicit): INVALID_OPTION with projection 'none'.
   */
  projectionGradient?: boolean;
  /** Buffers that receive the gradients (each the length of its input; dW: m × dim) and are returned. */
  out?: { dq: Float32Array; dk: Float32Array; dv: Float32Array; dW?: Float32Array };
}

/** φ of rows of x (FavorAttention.features): the true features are phi_i·exp(logScale_i). */
export interface FeatureRows {
  /** rows × M (M = featureCount), each row stabilized by its own largest exponent. */
  phi: Float32Result;
  /** Per row: log of the factor taken out (0 for the normalized kernel and the generalized ones but 'exp'). */
  logScale: ReturnType<Float64Array['slice']>;
}

export interface FavorForwardOptions {
  /** batch × keys bytes, nonzero = keep. Masked keys leave both the numerator and the normalizer. */
  keyMask?: Uint8Array;
  /** Receives the result [batch, heads, queries, valueDim] and is returned. */
  out?: Float32Array;
}

/** The sizes of a recurrent decoder: one state per (batch, head). */
export interface DecoderOptions {
  /** Independent sequences decoded side by side. Default 1. */
  batch?: number;
  /** Attention heads per sequence. Default 1. */
  heads?: number;
  /** Value (and output) dimension dv per head. Default: the instance's `dim`. */
  valueDim?: number;
}

export const DECODER_KEYS = ['batch', 'heads', 'valueDim'] as const;
export const OPTION_KEYS = ['dim', 'features', 'kernel', 'projection', 'norms', 'seed', 'causal', 'epsilon', 'chunkSize', 'window', 'estimateLogScale', 'centerKeys'] as const;
export const FORWARD_KEYS = ['keyMask', 'out'] as const;
export const BACKWARD_KEYS = ['keyMask', 'projectionGradient', 'out'] as const;

/** out: { dq, dk, dv }, each a Float32Array of its input's length not sharing memory with an input; or fresh buffers. */
export function checkGradientBuffers(out: unknown, s: ResolvedShape, inputs: Float32Array[]): Gradients {
  if (out === undefined) return { dq: new Float32Array(s.qLength), dk: new Float32Array(s.kLength), dv: new Float32Array(s.vLength) };
  const o = checkOptions<Gradients>('backward out', out, ['dq', 'dk', 'dv', 'dW']);
  const dq = checkOut(o.dq, s.qLength, inputs);
  const dk = checkOut(o.dk, s.kLength, inputs);
  const dv = checkOut(o.dv, s.vLength, inputs);
  if (!dq || !dk || !dv) throw new PerformerError('INVALID_OPTION', 'out must have all of dq, dk and dv');
  return { dq, dk, dv } as Gradients; // the caller's buffers, returned as given
}

/** window: an integer ≥ 0 (0 = plain FAVOR+); > 0 needs a softmax kernel (the exact part is exp(q̂·k̂)). */
export function checkWindow(value: unknown, softmax: boolean, kernel: string): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0x3fffffff) {
    throw new PerformerError('INVALID_OPTION', `window must be an integer ≥ 0, got ${describe(value)}`);
  }
  if (value > 0 && !softmax) {
    throw new PerformerError('INVALID_OPTION', `window needs a softmax kernel (its exact part is exp(q̂·k̂)); '${kernel}' is a generalized kernel`);
  }
  return value;
}

/** estimateLogScale: a finite number (−0 read as 0, so that saved states compare equal). */
export function checkEstimateLogScale(value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new PerformerError('INVALID_OPTION', `estimateLogScale must be a finite number, got ${describe(value)}`);
  }
  return value === 0 ? 0 : value;
}

export function checkEpsilon(value: unknown): number {
  if (value === undefined) return DEFAULT_KERNEL_EPSILON;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new PerformerError('INVALID_OPTION', `epsilon must be a finite number ≥ 0, got ${describe(value)}`);
  }
  return value;
}
