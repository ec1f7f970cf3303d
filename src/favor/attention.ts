// FavorAttention: the public FAVOR+ module. It owns the configuration and the projection; the passes
// themselves live in bidirectional.ts, causal.ts and ../hybrid/forward.ts, its options and their checks in options.ts.
import type { Float32Result } from '../arguments/buffers.ts';
import { bidirectionalForward } from './bidirectional.ts';
import { causalForward } from './causal.ts';
import { FavorDecoder } from '../decoder/decoder.ts';
import { checkSavedState, type DecoderIdentity } from '../decoder/saved-state.ts';
import { PerformerError } from '../arguments/errors.ts';
import { mapFeatures, prepareFeatures, type PreparedFeatures } from '../feature-maps/features.ts';
import { FEATURE_MAPS, KERNEL_NAMES, type KernelName } from '../feature-maps/kernels.ts';
import { checkExplicitProjection, checkShape, checksumProjection, drawProjection, PROJECTION_KINDS, ROW_NORMS, type ProjectionKind, type RowNorms } from '../projection/projection.ts';
import { checkSeed } from '../projection/rng.ts';
import { drawStructured, type StructuredTables } from '../projection/structured.ts';
import { lengthRule, resolveShape, type AttentionShape, type ResolvedShape } from '../arguments/shapes.ts';
import { threadsPart } from '../runtime/threads-registry.ts';
import { favorBackward, type Gradients } from './backward.ts';
import { featureGradients, type FeatureGradients } from '../feature-maps/feature-gradients.ts';
import { hybridBackward, hybridCausalBackward } from '../hybrid/backward.ts';
import { withKernel } from '../runtime/guard.ts';
import { checkInput, checkInputMax } from '../runtime/finite.ts';
import { checkBoolean, checkChoice, checkKeyMask, checkOptions, checkOut, checkSize, describe } from '../arguments/validate.ts';
import { withValueScale } from './value-scale.ts';
import { runtime } from '../runtime/wasm.ts';
import { hybridBidirectionalForward, hybridCausalForward } from '../hybrid/forward.ts';
import { centredKeys, centreGradient, checkCentering } from '../hybrid/centering.ts';
import {
  BACKWARD_KEYS, checkEpsilon, checkEstimateLogScale, checkGradientBuffers, checkWindow, DECODER_KEYS, FORWARD_KEYS, OPTION_KEYS,
  type DecoderOptions, type FavorAttentionOptions, type FavorBackwardOptions, type FavorForwardOptions, type FeatureRows,
} from './options.ts';

const DEFAULT_FEATURES = 256;
const DEFAULT_CHUNK = 128;
// the masked C×C block of a causal chunk costs O(C²·M): 64 rows measured fastest (L = 4096, m = 256)
const DEFAULT_CAUSAL_CHUNK = 64;

/**
 * FAVOR+ attention (Performer, Choromanski et al. 2021): softmax attention (or a generalized kernel) estimated
 * with random features in O(L·m·d) time, linear in the sequence length L. An instance holds the configuration
 * and the projection matrix (shared by all heads); `forward` computes attention, `backward` its gradients,
 * `decoder` decodes token by token. Construction needs no wasm; the calls need `await init()` first.
 *
 * ```ts
 * const attn = new FavorAttention({ dim: 64, features: 256, seed: 7 });
 * const out = attn.forward(q, k, v, { heads: 8, queries: 1024, dim: 64 });
 * ```
 */
export class FavorAttention {
  readonly dim: number;
  readonly kernel: KernelName;
  readonly causal: boolean;
  readonly chunkSize: number;
  /** The exact window w (0: plain FAVOR+). */
  readonly window: number;
  /** β: the FAVOR+ part of the hybrid weighs e^β against the exact window (0: as the estimator is). */
  readonly estimateLogScale: number;
  private readonly centering: false | true | Float32Array;
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

  /**
   * Draws the projection (seeded: the same seed gives the same matrix in every engine). `options.dim` is
   * required; everything else has a default (features 256, kernel 'softmax', orthogonal projection, seed 0).
   * Throws PerformerError (INVALID_TYPE, INVALID_SIZE, INVALID_LENGTH, NON_FINITE, UNKNOWN_OPTION,
   * INVALID_OPTION) for options it cannot use.
   */
  constructor(options: FavorAttentionOptions) {
    const o = checkOptions<FavorAttentionOptions>('new FavorAttention', options ?? null, OPTION_KEYS, 'options { dim, … }');
    this.dim = checkSize('new FavorAttention: options.dim (required, the query/key dimension)', o.dim);
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
    this.window = checkWindow(o.window, map.softmax, this.kernel);
    this.estimateLogScale = checkEstimateLogScale(o.estimateLogScale);
    this.centering = checkCentering(o.centerKeys, this.dim, this.causal, map.softmax);
  }

  /** The projection in use (m × dim, row-major), a copy; the identity for projection 'none'. */
  get projection(): Float32Result {
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
  forward(q: Float32Array, k: Float32Array, v: Float32Array, shape: AttentionShape, options?: FavorForwardOptions): Float32Result {
    runtime();
    const s = resolveShape('forward', shape);
    if (s.dim !== this.dim) throw new PerformerError('INVALID_SIZE', `shape.dim is ${s.dim} but this FavorAttention has dim ${this.dim}`);
    const o = checkOptions<FavorForwardOptions>('forward', options, FORWARD_KEYS);
    checkInput('q', q, s.qLength, () => lengthRule(s, 'q'));
    checkInput('k', k, s.kLength, () => lengthRule(s, 'k'));
    const vMax = checkInputMax('v', v, s.vLength, () => lengthRule(s, 'v')).max;
    const mask = checkKeyMask(o.keyMask, s.batch, s.keys);
    const out = checkOut(o.out, s.outLength, [q, k, v]) ?? new Float32Array(s.outLength);
    const pool = runtime().pool;
    const keys = centredKeys(this.centering, k, s, mask);
    const part = pool && worthThreads(s, this.causal) ? threadsPart() : undefined; // a pool comes with its part
    withValueScale(v, vMax, out, (values) => {
      if (this.window > 0 && pool && part && s.batch * s.heads > 1) { // one hybrid head stays on one thread
        withKernel(() => part.hybridForward(pool, this.prepared, this.chunkSize, Math.min(this.window, s.queries + s.keys), this.estimateLogScale, this.causal,
                                            s, q, keys, values, mask, out));
      } else if (this.window > 0) { // hybrid (src/hybrid/forward.ts)
        if (this.causal) hybridCausalForward(this.prepared, this.chunkSize, this.window, this.estimateLogScale, s, q, keys, values, mask, out);
        else hybridBidirectionalForward(this.prepared, this.chunkSize, this.window, this.estimateLogScale, s, q, keys, values, mask, out);
      } else if (pool && part) {
        withKernel(() => part.forward(pool, this.prepared, this.chunkSize, s, q, keys, values, mask, out, this.causal));
      } else if (this.causal) causalForward(this.prepared, this.chunkSize, s, q, keys, values, mask, out);
      else bidirectionalForward(this.prepared, this.chunkSize, s, q, keys, values, mask, out);
    });
    return out as Float32Result; // a fresh array, or the caller's `out` as given
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
    checkInput('q', q, s.qLength, () => lengthRule(s, 'q'));
    checkInput('k', k, s.kLength, () => lengthRule(s, 'k'));
    checkInput('v', v, s.vLength, () => lengthRule(s, 'v'));
    checkInput('dOut', dOut, s.outLength);
    const mask = checkKeyMask(o.keyMask, s.batch, s.keys);
    const g = checkGradientBuffers(o.out, s, [q, k, v, dOut]);
    if (checkBoolean('projectionGradient', o.projectionGradient, false)) {
      if (this.window > 0) throw new PerformerError('INVALID_OPTION', 'projectionGradient is not available with window > 0: fitFeatureMap fits maps for hybrid attention');
      const w = this.projectionForGradient('backward');
      g.dW = (checkOut((o.out as { dW?: unknown } | undefined)?.dW, w.length, [q, k, v, dOut]) ?? new Float32Array(w.length)) as Float32Result;
    } else if ((o.out as { dW?: unknown } | undefined)?.dW !== undefined) {
      throw new PerformerError('INVALID_OPTION', 'out.dW is filled only with projectionGradient: true');
    }
    const keys = centredKeys(this.centering, k, s, mask);
    if (this.window > 0) {
      const pass = this.causal ? hybridCausalBackward : hybridBackward;
      withKernel(() => pass(this.prepared, this.chunkSize, this.window, this.estimateLogScale, s, q, keys, v, dOut, mask, g));
    }
    else withKernel(() => favorBackward(this.prepared, this.chunkSize, s, q, keys, v, dOut, mask, this.causal, g));
    if (this.centering === true) centreGradient(g.dk, s, mask); // k_j − mean(k): ∂/∂k_j = g_j − mean(g)
    return g;
  }

  /**
   * The feature map applied to `rows` rows of x (rows × dim, queries or keys of one head): φ(x) as the
   * passes compute it, each row stabilized by its own largest exponent (true features phi_i·exp(logScale_i);
   * for keys that one query sees together, multiply by exp(logScale_j − max logScale) to share one scale).
   * With featuresBackward, the way to fit a feature map on short windows (docs/learned-feature-maps.md).
   */
  features(x: Float32Array, rows: number): FeatureRows {
    runtime();
    const n = checkSize('rows', rows);
    checkInput('x', x, n * this.dim);
    return withKernel(() => mapFeatures(this.prepared, x, n)) as FeatureRows; // fresh arrays over ArrayBuffers
  }

  /**
   * Gradients through the feature map: dPhi (rows × featureCount) is ∂loss/∂phi for the phi that
   * features(x, rows) returns, the loss reading the features as phi·exp(logScale) (that is, ∂loss/∂φ·exp(logScale)
   * for the true φ). Returns dx (rows × dim) and, with a projection, dW (m × dim, W acting on x̂, summed over rows).
   */
  featuresBackward(x: Float32Array, rows: number, dPhi: Float32Array): FeatureGradients {
    runtime();
    const n = checkSize('rows', rows);
    checkInput('x', x, n * this.dim);
    checkInput('dPhi', dPhi, n * this.featureCount);
    return withKernel(() => featureGradients(this.prepared, x, n, dPhi));
  }

  /**
   * A new FavorAttention with this one's configuration (kernel, causal, epsilon, chunk size, window, key
   * centring, estimateLogScale) and the explicit projection `w` (m × dim; copied): e.g. a fitted or trained
   * matrix (fitFeatureMap, the tfjs op's projection input).
   */
  withProjection(w: Float32Array): FavorAttention {
    return new FavorAttention({ dim: this.dim, kernel: this.kernel, causal: this.causal, epsilon: this.epsilon,
                                chunkSize: this.chunkOption, projection: w, window: this.window,
                                centerKeys: this.centering, estimateLogScale: this.estimateLogScale });
  }

  /** The projection, for the gradient options; INVALID_OPTION without one. */
  private projectionForGradient(fn: string): Float32Array {
    if (!this.w) throw new PerformerError('INVALID_OPTION', `${fn}: projectionGradient needs a projection; this instance uses projection 'none'`);
    return this.w;
  }

  /**
   * A recurrent decoder (causal, whatever this instance's `causal`) with one state per (batch, head).
   * It keeps this instance's projection as it is now: a later redraw() does not change it.
   */
  decoder(options?: DecoderOptions): FavorDecoder {
    runtime();
    const o = checkOptions<DecoderOptions>('decoder', options, DECODER_KEYS);
    this.checkDecoderOptions();
    return new FavorDecoder(this.identity(), checkSize('batch', o.batch ?? 1), checkSize('heads', o.heads ?? 1),
                            checkSize('valueDim', o.valueDim ?? this.dim));
  }

  /** A decoder that continues exactly where the one that saved `bytes` stopped. INVALID_STATE if they do not fit this instance. */
  decoderFromState(bytes: Uint8Array): FavorDecoder {
    runtime();
    this.checkDecoderOptions();
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

  /** centerKeys: true has no decoder: it needs every key of a call. */
  private checkDecoderOptions(): void {
    if (this.centering === true) {
      throw new PerformerError('INVALID_OPTION', "centerKeys: true needs every key of a call (its mean); a decoder sees one token at a time: pass a fixed Float32Array(dim) shift");
    }
  }

  private identity(): DecoderIdentity {
    return { features: this.prepared, chunkSize: this.chunkOption ?? DEFAULT_CAUSAL_CHUNK,
             projectionChecksum: this.w ? checksumProjection(this.w, this.structured ? this.prepared.descriptor : undefined) : 0,
             window: this.window, estimateLogScale: this.window > 0 ? this.estimateLogScale : 0, keyShift: this.centering instanceof Float32Array ? this.centering : null };
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
