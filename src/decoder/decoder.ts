// FavorDecoder: causal FAVOR+ one token at a time, with a state per (batch, head) kept in wasm memory.
// step() costs O(M·(dim + valueDim)) per sequence whatever the position; prefill() runs the parallel
// causal chunks on the same state; saveState() / FavorAttention.decoderFromState() move the state
// through bytes (for example between the requests of an edge worker).
import type { BytesResult, Float32Result } from '../arguments/buffers.ts';
import { CausalWorkspace, type StatePointers } from '../favor/causal.ts';
import { shiftChecksum, type StateHeader } from './decoder-state.ts';
import { featureRows, loadSavedState, readSavedState, writeSavedState, type DecoderIdentity, type StateLayout } from './saved-state.ts';
import { hybridCausalWorkspace, runHybridCausalHead } from '../hybrid/forward.ts';
import { PerformerError } from '../arguments/errors.ts';
import { featureMapFloats, writeFeatures, type PreparedFeatures } from '../feature-maps/features.ts';
import { DECODER_STEP_BYTES, fieldOffset, HYBRID_BYTES, HYBRID_LAYOUT, HYBRID_RING_BYTES, PASS_BYTES, WORKSPACE_BYTES, writeDecoderStep, writeHybrid,
         writeHybridRing, writePass, writeWorkspace } from '../runtime/descriptors.ts';
import { withKernel } from '../runtime/guard.ts';
import { checkWorkspaceBytes } from '../runtime/heap.ts';
import { checkInput } from '../runtime/finite.ts';
import { checkOptions, checkOut, checkSize } from '../arguments/validate.ts';
import { runtime, type Runtime } from '../runtime/wasm.ts';
import { planWorkspace } from '../runtime/workspace.ts';

// Frees a decoder's wasm block when the decoder is garbage-collected without dispose().
/** Byte offsets of the Hybrid descriptor's fields that a step changes. */
const HYBRID_KEYS = fieldOffset(HYBRID_LAYOUT, 'keys');
const HYBRID_POSITION = fieldOffset(HYBRID_LAYOUT, 'position');

const finalizer = typeof FinalizationRegistry === 'undefined'
  ? undefined
  : new FinalizationRegistry<{ rt: Runtime; ptr: number }>(({ rt, ptr }) => rt.heap.release(ptr));

/** Options of FavorDecoder.prefill. */
export interface PrefillOptions {
  /** 'all' (default): the outputs of every token; 'last': those of the last token only. */
  outputs?: 'all' | 'last';
}

/** The outputs a prefill answers ('all' or 'last'), checked before any work. */
function prefillOutputs(options: unknown): 'all' | 'last' {
  const { outputs = 'all' } = checkOptions<PrefillOptions>('prefill', options, ['outputs']);
  if (outputs !== 'all' && outputs !== 'last') throw new PerformerError('INVALID_OPTION', `prefill: outputs must be 'all' or 'last', got ${JSON.stringify(outputs)}`);
  return outputs;
}

/** The scratch of one step of `count` sequences (and, with a window, its descriptors, tiles and the keys leaving the ring). */
function stepWorkspace(f: PreparedFeatures, count: number, d: number, dv: number, tile: number) {
  const plan = planWorkspace({
    pass: PASS_BYTES / 4, ws: WORKSPACE_BYTES / 4, step: DECODER_STEP_BYTES / 4,
    q: count * d, k: count * d, v: count * dv, u: count * f.mp, phiQ: count * f.Mp, phiK: count * f.Mp,
    h: count, top: count, cRow: count, vd: 2 * dv, acc: 2 * dv, out: count * dv,
    den: count, Lg: tile, G: tile, kLag: tile ? count * d : 0, vLag: tile ? count * dv : 0,
  });
  checkWorkspaceBytes(plan.bytes);
  return plan;
}

export class FavorDecoder {
  readonly batch: number;
  readonly heads: number;
  readonly dim: number;
  readonly valueDim: number;
  private readonly id: DecoderIdentity;
  private readonly rt: Runtime;
  private readonly count: number;
  private block: number;
  /** The FeatureMap descriptor (with the projection after it) in this decoder's block. */
  private readonly fm: number;
  private readonly S: number;
  private readonly z: number;
  private readonly run: number;
  /** The rings (window > 0): count × 2(w + 1) rows of keys and of values (assembly/hybrid/ring.ts). */
  private readonly ringK: number;
  private readonly ringV: number;
  private tokens = 0;
  /** The ring step's fm, pass, ws, ring descriptors (in the decoder's block), and the scratch address they were written for. */
  private readonly stepDescriptors: Record<'pass' | 'ws' | 'step' | 'ring' | 'hy', number>;
  private stepBase = -1;
  private stepPlan: ReturnType<typeof stepWorkspace> | undefined;

  /** @internal use FavorAttention.decoder() or decoderFromState(). */
  constructor(id: DecoderIdentity, batch: number, heads: number, valueDim: number) {
    this.id = id;
    this.batch = batch;
    this.heads = heads;
    this.dim = id.features.dim;
    this.valueDim = valueDim;
    this.count = batch * heads;
    this.rt = runtime();
    const f = id.features;
    const ringRows = id.window > 0 ? this.count * 2 * (id.window + 1) : 0;
    const plan = planWorkspace({
      fm: featureMapFloats(f), S: 2 * this.count * f.Mp * valueDim, z: 2 * this.count * f.Mp, run: 2 * this.count,
      ringK: ringRows * this.dim, ringV: ringRows * valueDim,
      // the step's descriptors that stay put while the scratch does (stepKernel)
      pass: PASS_BYTES / 4, ws: WORKSPACE_BYTES / 4, step: DECODER_STEP_BYTES / 4, ring: ringRows ? HYBRID_RING_BYTES / 4 : 0,
      hy: ringRows ? HYBRID_BYTES / 4 : 0,
    });
    checkWorkspaceBytes(plan.bytes);
    this.block = this.rt.heap.alloc(plan.bytes);
    finalizer?.register(this, { rt: this.rt, ptr: this.block }, this);
    this.S = this.block + plan.offsets.S;
    this.z = this.block + plan.offsets.z;
    this.run = this.block + plan.offsets.run;
    this.ringK = this.block + plan.offsets.ringK;
    this.ringV = this.block + plan.offsets.ringV;
    this.fm = writeFeatures(this.rt, f, this.block + plan.offsets.fm);
    this.stepDescriptors = { pass: this.block + plan.offsets.pass, ws: this.block + plan.offsets.ws, step: this.block + plan.offsets.step,
                             ring: this.block + plan.offsets.ring, hy: this.block + plan.offsets.hy };
    this.reset();
  }

  /** Tokens consumed so far. */
  get position(): number {
    return this.tokens;
  }

  /** Forgets every token: back to position 0. */
  reset(): void {
    const f = this.id.features;
    const rt = this.live();
    rt.f64.fill(0, this.S >>> 3, (this.S >>> 3) + this.count * f.Mp * this.valueDim);
    rt.f64.fill(0, this.z >>> 3, (this.z >>> 3) + this.count * f.Mp);
    rt.f64.fill(-Infinity, this.run >>> 3, (this.run >>> 3) + this.count);
    const ringRows = this.id.window > 0 ? this.count * 2 * (this.id.window + 1) : 0;
    rt.f32.fill(0, this.ringK >>> 2, (this.ringK >>> 2) + ringRows * this.dim);
    rt.f32.fill(0, this.ringV >>> 2, (this.ringV >>> 2) + ringRows * this.valueDim);
    this.tokens = 0;
  }

  /**
   * One token for every (batch, head): q, k [batch·heads·dim], v [batch·heads·valueDim]. Returns the
   * attention output [batch·heads·valueDim] of this position (it sees its own key).
   */
  step(q: Float32Array, k: Float32Array, v: Float32Array, out?: Float32Array): Float32Result {
    const rt = this.live();
    const { count, dim: d, valueDim: dv } = this;
    const rule = (cols: string, n: number) => () => `batch·heads·${cols} = ${this.batch}·${this.heads}·${n}`;
    checkInput('q', q, count * d, rule('dim', d));
    checkInput('k', k, count * d, rule('dim', d));
    checkInput('v', v, count * dv, rule('valueDim', dv));
    const result = checkOut(out, count * dv, [q, k, v]) ?? new Float32Array(count * dv);
    const keys = this.shifted(k);
    // under withKernel (guard.ts): a trap rebuilds the module, and this decoder (its state was in the
    // old memory) throws INVALID_STATE from then on
    withKernel(() => this.stepKernel(rt, q, keys, v, result));
    this.tokens += 1;
    return result as Float32Result; // a fresh array, or the caller's `out` as given
  }

  private stepKernel(rt: Runtime, q: Float32Array, k: Float32Array, v: Float32Array, result: Float32Array): void {
    const { count, dim: d, valueDim: dv } = this;
    const f = this.id.features;
    const w = this.id.window;
    const tile = w > 0 ? 16 * rt.exports.hybrid_tile_stride(w) : 0;
    const plan = (this.stepPlan ??= stepWorkspace(f, count, d, dv, tile)); // the same every step: planned once
    const base = rt.scratch(plan.bytes);
    const o = plan.offsets;
    rt.write(base + o.q, q);
    rt.write(base + o.k, k);
    rt.write(base + o.v, v);
    const at = (region: keyof typeof o) => base + o[region];
    const { pass, ws, step, ring, hy } = this.stepDescriptors;
    if (base !== this.stepBase) { // written once per scratch address: descriptor writes cost about as much as a step's arithmetic
      writePass(rt.data, pass, { q: at('q'), k: at('k'), v: at('v'), out: at('out'), queries: count, keys: count, prefix: 0, valueDim: dv, chunk: 1 });
      writeWorkspace(rt.data, ws, { u: at('u'), phi: at('phiQ'), phiK: at('phiK'), h: at('h'), top: at('top'), c: at('cRow'), den: at('den'),
                                    S: this.S, z: this.z, run: this.run });
      writeDecoderStep(rt.data, step, { vd: at('vd'), acc: at('acc') });
      if (w > 0) {
        writeHybridRing(rt.data, ring, { keys: this.ringK, values: this.ringV, kLag: at('kLag'), vLag: at('vLag'), vd: at('vd'), acc: at('acc') });
        writeHybrid(rt.data, hy, { window: w, beta: this.id.estimateLogScale, keys: 0, position: 0, first: 0, cached: 0, cachedEnd: 0, Lg: at('Lg'), G: at('G') });
      }
      this.stepBase = base;
    }
    if (w > 0) {
      // per step only the position changes (keys [0, t] exist)
      rt.data.setInt32(hy + HYBRID_KEYS, this.tokens + 1, true);
      rt.data.setInt32(hy + HYBRID_POSITION, this.tokens, true);
      rt.exports.hybrid_decoder_step(this.fm, pass, ws, hy, ring);
    } else rt.exports.decoder_step(this.fm, pass, ws, step);
    result.set(rt.view(base + o.out, count * dv));
  }

  /**
   * A block of tokens for every (batch, head): q, k [batch, heads, tokens, dim], v [batch, heads, tokens,
   * valueDim]. Returns the outputs of every position [batch, heads, tokens, valueDim], or with
   * `{ outputs: 'last' }` those of the last token only [batch, heads, 1, valueDim]: the same bits as the last row
   * of every output, and the same state, with the queries before the last chunk left unread (less than half the
   * work at m ≥ 2·dim).
   */
  prefill(q: Float32Array, k: Float32Array, v: Float32Array, tokens: number, out?: Float32Array, options?: PrefillOptions): Float32Result {
    this.live();
    const n = checkSize('tokens', tokens);
    const last = prefillOutputs(options) === 'last';
    const { count, dim: d, valueDim: dv } = this;
    const rule = (cols: string, c: number) => () => `batch·heads·tokens·${cols} = ${this.batch}·${this.heads}·${n}·${c}`;
    checkInput('q', q, count * n * d, rule('dim', d));
    checkInput('k', k, count * n * d, rule('dim', d));
    checkInput('v', v, count * n * dv, rule('valueDim', dv));
    const rows = last ? 1 : n;
    const result = checkOut(out, count * rows * dv, [q, k, v]) ?? new Float32Array(count * rows * dv);
    const keys = this.shifted(k);
    withKernel(() => { // (guard.ts) as in step()
      if (this.id.window > 0) return this.prefillWindow(q, keys, v, n, result, last);
      const C = Math.min(this.id.chunkSize, n);
      const ws = new CausalWorkspace(this.id.features, C, n, dv, false, this.fm);
      // 'last': the whole chunks before the last one add their keys only; the last chunk runs as in a full prefill
      const skip = last ? Math.floor((n - 1) / C) * C : 0;
      const tail = last ? new Float32Array((n - skip) * dv) : result;
      for (let r = 0; r < count; r++) {
        ws.useState(this.statePointers(r));
        ws.runKeys(skip, keys, v, r * n);
        ws.run(0, n - skip, q, r * n + skip, keys, v, r * n + skip, undefined, 0, tail, last ? 0 : r * n);
        if (last) result.set(tail.subarray((n - skip - 1) * dv), r * dv);
      }
    });
    this.tokens += n;
    return result as Float32Result; // a fresh array, or the caller's `out` as given
  }

  /**
   * prefill with the window: per sequence, the causal window pass over [the ring's keys; the block's keys] (the
   * queries aligned to the block), on the persistent state; then the ring takes the last w + 1 keys.
   */
  private prefillWindow(q: Float32Array, k: Float32Array, v: Float32Array, n: number, result: Float32Array, last: boolean): void {
    const { count, dim: d, valueDim: dv } = this;
    const all = last ? new Float32Array(count * n * dv) : result; // (the window's exact part reads every query)
    const R = this.id.window + 1;
    const held = Math.min(this.tokens, R); // keys in the ring
    const ws = hybridCausalWorkspace(this.id.features, Math.min(this.id.chunkSize, n), this.id.window, this.id.estimateLogScale, dv, n, held + n);
    const kExt = new Float32Array((held + n) * d);
    const vExt = new Float32Array((held + n) * dv);
    for (let r = 0; r < count; r++) {
      for (let j = 0; j < held; j++) this.readRing(r, this.tokens - held + j, kExt, vExt, j);
      kExt.set(k.subarray(r * n * d, (r + 1) * n * d), held * d);
      vExt.set(v.subarray(r * n * dv, (r + 1) * n * dv), held * dv);
      runHybridCausalHead(ws, this.statePointers(r), q, r * n, n, kExt, vExt, 0, held + n, undefined, 0, all, r * n);
      if (last) result.set(all.subarray((r * n + n - 1) * dv, (r * n + n) * dv), r * dv);
      for (let j = Math.max(0, held + n - R); j < held + n; j++) this.writeRing(r, this.tokens - held + j, kExt, vExt, j);
    }
  }

  /** Key `position` of sequence r from the ring into row `row` of k and v. */
  private readRing(r: number, position: number, k: Float32Array, v: Float32Array, row: number): void {
    const { dim: d, valueDim: dv } = this;
    const R = this.id.window + 1;
    const slot = r * 2 * R + (position % R);
    k.set(this.rt.f32.subarray((this.ringK >>> 2) + slot * d, (this.ringK >>> 2) + (slot + 1) * d), row * d);
    v.set(this.rt.f32.subarray((this.ringV >>> 2) + slot * dv, (this.ringV >>> 2) + (slot + 1) * dv), row * dv);
  }

  /** Row `row` of k and v into the ring as key `position` of sequence r (both copies). */
  private writeRing(r: number, position: number, k: Float32Array, v: Float32Array, row: number): void {
    const { dim: d, valueDim: dv } = this;
    const R = this.id.window + 1;
    for (const slot of [r * 2 * R + (position % R), r * 2 * R + (position % R) + R]) {
      this.rt.f32.set(k.subarray(row * d, (row + 1) * d), (this.ringK >>> 2) + slot * d);
      this.rt.f32.set(v.subarray(row * dv, (row + 1) * dv), (this.ringV >>> 2) + slot * dv);
    }
  }

  /** k, or k minus the key shift (centerKeys) on every row. */
  private shifted(k: Float32Array): Float32Array {
    const c = this.id.keyShift;
    if (!c) return k;
    const d = this.dim;
    return k.map((x, i) => x - c[i % d]);
  }

  /** The whole state as bytes: sizes, kernel, projection checksum, position, and (c, z, S) per (batch, head). */
  saveState(): BytesResult {
    const rt = this.live();
    return writeSavedState(rt, this.header(), this.layout(), this.id.window > 0 ? this.ringValues() : []);
  }

  /** @internal Loads bytes from saveState() (checked against this decoder by FavorAttention.decoderFromState). */
  load(header: StateHeader, view: DataView): void {
    const rt = this.live();
    const layout = this.layout();
    const ringFloats = this.id.window > 0 ? this.count * (this.id.window + 1) * (this.dim + this.valueDim) : 0;
    const { values, ring } = readSavedState(header, view, layout, ringFloats);
    this.reset(); // nothing is written before every value was checked
    loadSavedState(rt, layout, values);
    this.tokens = header.position;
    if (this.id.window > 0) this.loadRing(ring);
  }

  /** Frees the wasm memory now (otherwise when the decoder is garbage-collected). The decoder is unusable after. */
  dispose(): void {
    if (!this.block) return;
    finalizer?.unregister(this);
    this.rt.heap.release(this.block);
    this.block = 0;
  }

  /**
   * The runtime this decoder's state lives in, if it may still be used: not after dispose(), and not
   * once that instance was replaced (after a kernel fault, or by a new init()), since the running
   * instance's memory does not hold this state.
   */
  private live(): Runtime {
    if (!this.block) throw new PerformerError('INVALID_STATE', 'this decoder was disposed');
    if (this.rt.retired === 'fault') {
      throw new PerformerError('INVALID_STATE', 'the module was rebuilt after a fault; restore from saveState()');
    }
    if (this.rt.retired) {
      throw new PerformerError('INVALID_STATE', 'init() loaded a new module since this decoder was created; restore from saveState()');
    }
    return this.rt;
  }

  /** The rings as saved: per sequence the last w + 1 keys (oldest first, zeros before position 0), then their values. */
  private ringValues(): number[] {
    const R = this.id.window + 1;
    const k = new Float32Array(R * this.dim);
    const v = new Float32Array(R * this.valueDim);
    const values: number[] = [];
    for (let r = 0; r < this.count; r++) {
      k.fill(0);
      v.fill(0);
      for (let j = 0; j < R; j++) if (this.tokens - R + j >= 0) this.readRing(r, this.tokens - R + j, k, v, j);
      values.push(...k, ...v);
    }
    return values;
  }

  /** The inverse of ringValues, at this.tokens. */
  private loadRing(values: number[]): void {
    const R = this.id.window + 1;
    const per = R * (this.dim + this.valueDim);
    for (let r = 0; r < this.count; r++) {
      const k = Float32Array.from(values.slice(r * per, r * per + R * this.dim));
      const v = Float32Array.from(values.slice(r * per + R * this.dim, (r + 1) * per));
      for (let j = 0; j < R; j++) if (this.tokens - R + j >= 0) this.writeRing(r, this.tokens - R + j, k, v, j);
    }
  }

  private header(): StateHeader {
    const f = this.id.features;
    return {
      kernelId: f.map.id, projectionNone: f.wt === null, dim: this.dim, valueDim: this.valueDim, m: f.m,
      batch: this.batch, heads: this.heads, projectionChecksum: this.id.projectionChecksum, epsilon: f.epsilon,
      position: this.tokens,
      window: this.id.window,
      estimateLogScale: this.id.estimateLogScale,
      shiftChecksum: this.id.keyShift ? shiftChecksum(this.id.keyShift) : null,
    };
  }

  /** Where this decoder's state is, for saving and loading. */
  private layout(): StateLayout {
    return { count: this.count, valueDim: this.valueDim, rows: featureRows(this.id.features), pointers: (r) => this.statePointers(r) };
  }

  private statePointers(r: number): StatePointers {
    const f = this.id.features;
    return { S: this.S + r * f.Mp * this.valueDim * 8, z: this.z + r * f.Mp * 8, run: this.run + r * 8 };
  }
}
