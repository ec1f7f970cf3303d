// FavorAttention: the public FAVOR+ module. It owns the configuration and the projection; the passes
// themselves live in bidirectional.ts (and causal.ts).
import { bidirectionalForward } from './bidirectional.ts';
import { causalForward } from './causal.ts';
import { checkSavedState, FavorDecoder, type DecoderIdentity } from '../decoder/decoder.ts';
import { PerformerError } from '../arguments/errors.ts';
import { prepareFeatures, type PreparedFeatures } from './features.ts';
import { DEFAULT_KERNEL_EPSILON, FEATURE_MAPS, KERNEL_NAMES, type KernelName } from './kernels.ts';
import { checkExplicitProjection, checkShape, checksumProjection, drawProjection, PROJECTION_KINDS, ROW_NORMS, type ProjectionKind, type RowNorms } from '../projection/projection.ts';
import { checkSeed } from '../projection/rng.ts';
import { drawStructured, type StructuredTables } from '../projection/structured.ts';
import { resolveShape, type AttentionShape, type ResolvedShape } from '../arguments/shapes.ts';
import { threadedForward } from '../threads/threaded.ts';
import { favorBackward, type Gradients } from './backward.ts';
import { withKernel } from '../runtime/guard.ts';
import { checkInput, checkInputMax } from '../arguments/finite.ts';
import { checkBoolean, checkChoice, checkKeyMask, checkOptions, checkOut, checkSize, describe } from '../arguments/validate.ts';
import { withValueScale } from './value-scale.ts';
import { runtime } from '../runtime/wasm.ts';

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
}

export interface FavorBackwardOptions {
  /** batch × keys bytes, nonzero = keep (as in forward). */
  keyMask?: Uint8Array;
  /** Buffers that receive the gradients (each the length of its input) and are returned. */
  out?: { dq: Float32Array; dk: Float32Array; dv: Float32Array };
}

export interface FavorForwardOptions {
  /** batch × keys bytes, nonzero = keep. Masked keys leave both the numerator and the normalizer. */
  keyMask?: Uint8Array;
  /** Receives the result [batch, heads, queries, valueDim] and is returned. */
  out?: Float32Array;
}

export interface DecoderOptions {
  batch?: number;
  heads?: number;
  /** Value dimension dv. Default: dim. */
  valueDim?: number;
}

const DECODER_KEYS = ['batch', 'heads', 'valueDim'] as const;
const OPTION_KEYS = ['dim', 'features', 'kernel', 'projection', 'norms', 'seed', 'causal', 'epsilon', 'chunkSize'] as const;
const FORWARD_KEYS = ['keyMask', 'out'] as const;
const BACKWARD_KEYS = ['keyMask', 'out'] as const;
const DEFAULT_FEATURES = 256;
const DEFAULT_CHUNK = 128;
// the masked C×C block of a causal chunk costs O(C²·M): 64 rows measured fastest (L = 4096, m = 256)
const DEFAULT_CAUSAL_CHUNK = 64;

export class FavorAttention {
  readonly dim: number;
  readonly kernel: KernelName;
  readonly causal: boolean;
  readonly chunkSize: number;
  /** The chunk size the caller set, if any (decoders are causal: their default is the causal one). */
  private readonly chunkOption: number | undefined;
  private readonly projectionKind: ProjectionKind | 'none' | 'explicit';
  private readonly norms: RowNorms;
  private readonly epsilon: number;
  private currentSeed: number;
  private w: Float32Array | null;
  /** The signs and norms of a structured projection (null otherwise). */
  private structured: StructuredTables | null = null;
  private prepared: PreparedFeatures;

  constructor(options: FavorAttentionOptions) {
    const o = checkOptions<FavorAttentionOptions>('FavorAttention', options ?? null, OPTION_KEYS);
    this.dim = checkSize('dim', o.dim);
    this.kernel = checkChoice('kernel', o.kernel, KERNEL_NAMES, 'softmax');
    this.norms = checkChoice('norms', o.norms, ROW_NORMS, 'chi');
    this.currentSeed = checkSeed(o.seed === undefined ? 0 : o.seed);
    this.causal = checkBoolean('causal', o.causal, false);
    this.chunkOption = o.chunkSize === undefined ? undefined : checkSize('chunkSize', o.chunkSize);
    this.chunkSize = this.chunkOption ?? (this.causal ? DEFAULT_CAUSAL_CHUNK : DEFAULT_CHUNK);
    this.epsilon = checkEpsilon(o.epsilon);
    const map = FEATURE_MAPS[this.kernel];
    const projection = o.projection === undefined ? 'orthogonal' : o.projection;

    if (typeof projection === 'object') { // an explicit matrix (checkExplicitProjection rejects anything but a Float32Array)
      this.projectionKind = 'explicit';
      this.w = checkExplicitProjection(projection, o.features === undefined ? undefined : checkSize('features', o.features), this.dim);
    } else if (projection === 'none') {
      if (map.softmax) throw new PerformerError('INVALID_OPTION', `projection 'none' is for the generalized kernels; '${this.kernel}' needs random features`);
      if (o.features !== undefined && o.features !== this.dim) {
        throw new PerformerError('INVALID_OPTION', `with projection 'none' the features are x itself: features must be dim (${this.dim}), got ${describe(o.features)}`);
      }
      this.projectionKind = 'none';
      this.w = null;
    } else {
      this.projectionKind = checkChoice('projection', projection, PROJECTION_KINDS, 'orthogonal');
      const m = checkSize('features', o.features === undefined ? DEFAULT_FEATURES : o.features);
      this.w = this.draw(m, this.currentSeed);
    }
    this.prepared = prepareFeatures(map, this.dim, this.w, this.epsilon, this.structured);
  }

  /** The projection in use (m × dim, row-major), a copy; the identity for projection 'none'. */
  get projection(): Float32Array {
    if (this.w) return this.w.slice();
    const eye = new Float32Array(this.dim * this.dim);
    for (let i = 0; i < this.dim; i++) eye[i * this.dim + i] = 1;
    return eye;
  }

  /** M, the features per row: m, or 2m for 'softmax-hyperbolic' and 'softmax-trig'. */
  get featureCount(): number {
    return this.prepared.map.twoBlock ? 2 * this.prepared.m : this.prepared.m;
  }

  /** The seed of the projection in use (random projections only). */
  get seed(): number {
    return this.currentSeed;
  }

  /** Draws a new projection from `seed` (default: the current seed + 1). Nothing else changes. */
  redraw(seed?: number): void {
    if (this.projectionKind === 'none' || this.projectionKind === 'explicit') {
      throw new PerformerError('INVALID_OPTION', `redraw needs a random projection; this instance uses projection '${this.projectionKind}'`);
    }
    const next = seed === undefined ? (this.currentSeed + 1) >>> 0 : checkSeed(seed);
    const w = this.draw(this.prepared.m, next);
    this.currentSeed = next;
    this.w = w;
    this.prepared = prepareFeatures(this.prepared.map, this.dim, w, this.epsilon, this.structured);
  }

  /** A random projection of this instance's kind (keeping a structured one's tables). */
  private draw(m: number, seed: number): Float32Array {
    if (this.projectionKind !== 'structured') return drawProjection(m, this.dim, this.projectionKind as ProjectionKind, this.norms, seed);
    checkShape(m, this.dim);
    const { w, tables } = drawStructured(m, this.dim, this.norms, seed);
    this.structured = tables;
    return w;
  }

  /** FAVOR+ attention of q [b,h,Lq,dim], k [b,h,Lk,dim], v [b,h,Lk,dv] into [b,h,Lq,dv]. */
  forward(q: Float32Array, k: Float32Array, v: Float32Array, shape: AttentionShape, options?: FavorForwardOptions): Float32Array {
    runtime();
    const s = resolveShape('forward', shape);
    if (s.dim !== this.dim) throw new PerformerError('INVALID_SIZE', `shape.dim is ${s.dim} but this FavorAttention has dim ${this.dim}`);
    const o = checkOptions<FavorForwardOptions>('forward', options, FORWARD_KEYS);
    checkInput('q', q, s.qLength);
    checkInput('k', k, s.kLength);
    const vMax = checkInputMax('v', v, s.vLength).max;
    const mask = checkKeyMask(o.keyMask, s.batch, s.keys);
    const out = checkOut(o.out, s.outLength, [q, k, v]) ?? new Float32Array(s.outLength);
    const pool = runtime().pool;
    withValueScale(v, vMax, out, (values) => {
      if (pool && worthThreads(s, this.causal)) {
        withKernel(() => threadedForward(pool, this.prepared, this.chunkSize, s, q, k, values, mask, out, this.causal));
      } else if (this.causal) causalForward(this.prepared, this.chunkSize, s, q, k, values, mask, out);
      else bidirectionalForward(this.prepared, this.chunkSize, s, q, k, values, mask, out);
    });
    return out;
  }

  /**
   * Gradients of forward (vector–Jacobian products): given dOut = ∂loss/∂out [b,h,Lq,dv], returns
   * ∂loss/∂q, ∂loss/∂k, ∂loss/∂v. The projection and the stabilizers are constants. Runs on one thread.
   */
  backward(q: Float32Array, k: Float32Array, v: Float32Array, dOut: Float32Array, shape: AttentionShape,
           options?: FavorBackwardOptions): Gradients {
    runtime();
    const s = resolveShape('backward', shape);
    if (s.dim !== this.dim) throw new PerformerError('INVALID_SIZE', `shape.dim is ${s.dim} but this FavorAttention has dim ${this.dim}`);
    const o = checkOptions<FavorBackwardOptions>('backward', options, BACKWARD_KEYS);
    checkInput('q', q, s.qLength);
    checkInput('k', k, s.kLength);
    checkInput('v', v, s.vLength);
    checkInput('dOut', dOut, s.outLength);
    const mask = checkKeyMask(o.keyMask, s.batch, s.keys);
    const g = checkGradientBuffers(o.out, s, [q, k, v, dOut]);
    withKernel(() => favorBackward(this.prepared, this.chunkSize, s, q, k, v, dOut, mask, this.causal, g));
    return g;
  }

  /**
   * A recurrent decoder (causal, whatever this instance's `causal`) with one state per (batch, head).
   * It keeps this instance's projection as it is now: a later redraw() does not change it.
   */
  decoder(options?: DecoderOptions): FavorDecoder {
    runtime();
    const o = checkOptions<DecoderOptions>('decoder', options, DECODER_KEYS);
    return new FavorDecoder(this.identity(), checkSize('batch', o.batch ?? 1), checkSize('heads', o.heads ?? 1),
                            checkSize('valueDim', o.valueDim ?? this.dim));
  }

  /** A decoder that continues exactly where the one that saved `bytes` stopped. INVALID_STATE if they do not fit this instance. */
  decoderFromState(bytes: Uint8Array): FavorDecoder {
    runtime();
    const id = this.identity();
    const { header, view } = checkSavedState(bytes, id);
    const decoder = new FavorDecoder(id, header.batch, header.heads, header.valueDim);
    try {
      decoder.load(header, view);
    } catch (error) {
      decoder.dispose();
      throw error;
    }
    return decoder;
  }

  private identity(): DecoderIdentity {
    return { features: this.prepared, chunkSize: this.chunkOption ?? DEFAULT_CAUSAL_CHUNK, projectionChecksum: this.w ? checksumProjection(this.w, this.structured ? this.prepared.descriptor : undefined) : 0 };
  }
}

/** Internal: the smallest heads·(queries + keys) sent to the pool (tests set 0 to thread every call). */
export const threading = { minRows: 1024 };

/**
 * Threads pay for a round trip to the workers and for copying whole heads into wasm memory: worth it
 * for several heads, or one long bidirectional head (one causal head stays on one thread).
 */
function worthThreads(s: ResolvedShape, causal: boolean): boolean {
  const heads = s.batch * s.heads;
  if (heads === 1 && causal) return false;
  return heads * (s.queries + s.keys) >= threading.minRows;
}

/** out: { dq, dk, dv }, each a Float32Array of its input's length not sharing memory with an input; or fresh buffers. */
export function checkGradientBuffers(out: unknown, s: ResolvedShape, inputs: Float32Array[]): Gradients {
  if (out === undefined) return { dq: new Float32Array(s.qLength), dk: new Float32Array(s.kLength), dv: new Float32Array(s.vLength) };
  const o = checkOptions<Gradients>('backward out', out, ['dq', 'dk', 'dv']);
  const dq = checkOut(o.dq, s.qLength, inputs);
  const dk = checkOut(o.dk, s.kLength, inputs);
  const dv = checkOut(o.dv, s.vLength, inputs);
  if (!dq || !dk || !dv) throw new PerformerError('INVALID_OPTION', 'out must have all of dq, dk and dv');
  return { dq, dk, dv };
}

function checkEpsilon(value: unknown): number {
  if (value === undefined) return DEFAULT_KERNEL_EPSILON;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new PerformerError('INVALID_OPTION', `epsilon must be a finite number ≥ 0, got ${describe(value)}`);
  }
  return value;
}
