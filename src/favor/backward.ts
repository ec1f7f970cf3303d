// FAVOR+ backward passes over [batch, heads, seq, ·] buffers (assembly/favor/backward.ts for the math).
// Bidirectional: keys → (S, z); queries → dq, (dS, dz); keys again → dk, dv. Extra memory O(M·dv +
// chunk·M + staged rows·d), bounded whatever L is. Causal: a forward sweep over the chunks recomputes the outputs and gives dq,
// keeping per row dnum (dv values), dden and the stabilizer c; a reverse sweep carries the suffix sums
// of the later queries (R, r) and gives dk, dv. No per-token states are stored and no state is rebuilt
// by subtraction: extra memory O(L·(dv + 2)) floats in JS plus the fixed wasm workspace.
import type { Float32Result } from '../arguments/buffers.ts';
import { featureMapFloats, writeFeatures, type PreparedFeatures } from '../feature-maps/features.ts';
import { checkWorkspaceBytes } from '../runtime/heap.ts';
import { readProjectionGradient } from '../feature-maps/feature-gradients.ts';
import type { ResolvedShape } from '../arguments/shapes.ts';
import { GRADIENTS_BYTES, PASS_BYTES, WORKSPACE_BYTES, writeGradients, writePass, writeWorkspace, type PassFields } from '../runtime/descriptors.ts';
import { runtime, type Runtime } from '../runtime/wasm.ts';
import { planWorkspace, regionAddresses, stagingRows } from '../runtime/workspace.ts';

/** ∂loss/∂q, ∂loss/∂k, ∂loss/∂v, each the length of its input. */
export interface Gradients {
  dq: Float32Result;
  dk: Float32Result;
  dv: Float32Result;
  /**
   * ∂loss/∂W (m × dim, the explicit-projection layout, W acting on x̂ = x·d^(-1/4) for the softmax
   * kernels), summed over every batch and head: only with `projectionGradient: true`.
   */
  dW?: Float32Result;
}

/**
 * The descriptors (fm, pass, ws, grads) and their regions: per chunk of C rows the lane's scratch, per staged block
 * of `block` rows (a multiple of C) the rows copied in and out.
 */
function workspace(rt: Runtime, f: PreparedFeatures, C: number, block: number, d: number, dv: number, withProjection: boolean) {
  const { mp, Mp } = f;
  const plan = planWorkspace({
    fm: featureMapFloats(f), pass: PASS_BYTES / 4, ws: WORKSPACE_BYTES / 4, grads: GRADIENTS_BYTES / 4,
    q: block * d, k: block * d, v: block * dv, mask: Math.ceil(block / 4),
    u: C * mp, phi: C * Mp, phiK: C * Mp, h: C, top: C, c: C, den: C, A: C * C,
    tmpS: Mp * dv, colSum: Mp, S32: Mp * dv, z32: Mp, S: 2 * Mp * dv, z: 2 * Mp, run: 2,
    dOut: block * dv, dq: block * d, dk: block * d, dv: block * dv, dnum: block * dv, dden: block, cRow: block,
    dphi: C * Mp, du: C * mp, dh: C, B: C * C, tmpK: C * Mp, tmpV: C * dv,
    dS: 2 * Mp * dv, dz: 2 * Mp, rho: 2, dS32: Mp * dv, dz32: Mp,
    dWt: withProjection ? mp * d : 0, dW: withProjection ? 2 * mp * d : 0, // f32 scratch, f64 sum (projection-grad.ts)
  });
  checkWorkspaceBytes(plan.bytes);
  const at = regionAddresses(rt.scratch(plan.bytes), plan.offsets);
  writeFeatures(rt, f, at.fm);
  writeWorkspace(rt.data, at.ws, at);
  writeGradients(rt.data, at.grads, { ...at, dWt: withProjection ? at.dWt : 0, dW: withProjection ? at.dW : 0 });
  return at;
}

type Workspace = ReturnType<typeof workspace>;

function clear(rt: Runtime, ptr: number, f64s: number, value = 0): void {
  rt.f64.fill(value, ptr >>> 3, (ptr >>> 3) + f64s);
}

export function favorBackward(f: PreparedFeatures, chunk: number, s: ResolvedShape, q: Float32Array, k: Float32Array, v: Float32Array,
                              dOut: Float32Array, mask: Uint8Array | undefined, causal: boolean, g: Gradients): void {
  const rt = runtime();
  const C = Math.min(chunk, Math.max(s.queries, s.keys));
  const block = stagingRows(C, Math.max(s.queries, s.keys));
  const at = workspace(rt, f, C, block, s.dim, s.valueDim, g.dW !== undefined);
  if (g.dW) clear(rt, at.dW, f.mp * s.dim);
  for (let b = 0; b < s.batch; b++) {
    for (let hd = 0; hd < s.heads; hd++) {
      const head = b * s.heads + hd;
      const pass = new HeadPass(rt, f, C, block, s, at, head, b, q, k, v, dOut, mask, g);
      if (causal) pass.causal();
      else pass.bidirectional();
    }
  }
  if (g.dW) readProjectionGradient(rt, f, at.dW, g.dW);
}

/** One (batch, head): row offsets into the caller's buffers, staged in blocks of whole chunks (the chunk loops are in wasm). */
class HeadPass {
  private readonly e: Runtime['exports'];
  private readonly qRow: number;
  private readonly kRow: number;
  private readonly maskRow: number;

  constructor(private readonly rt: Runtime, private readonly f: PreparedFeatures, private readonly C: number, private readonly block: number,
              private readonly s: ResolvedShape, private readonly at: Workspace, head: number, batch: number, private readonly q: Float32Array,
              private readonly k: Float32Array, private readonly v: Float32Array, private readonly dOut: Float32Array,
              private readonly mask: Uint8Array | undefined, private readonly g: Gradients) {
    this.e = rt.exports;
    this.qRow = head * s.queries;
    this.kRow = head * s.keys;
    this.maskRow = batch * s.keys;
  }

  /** Blocks of [from, to) in order (or reversed), with their row count. */
  private *blocks(from: number, to: number, reverse = false): Generator<[number, number]> {
    const starts: number[] = [];
    for (let i = from; i < to; i += this.block) starts.push(i);
    if (reverse) starts.reverse();
    for (const i of starts) yield [i, Math.min(this.block, to - i)];
  }

  /** The pass descriptor for `queries` staged query rows and `keys` staged key rows. */
  private writePass(queries: number, keys: number): void {
    const { rt, at, s } = this;
    const fields: PassFields = { q: at.q, k: at.k, v: at.v, mask: this.mask ? at.mask : 0, queries, keys, prefix: 0, valueDim: s.valueDim, chunk: this.C };
    writePass(rt.data, at.pass, fields);
  }

  private writeKeys(j: number, n: number): void {
    const { rt, at, s } = this;
    rt.write(at.k, this.k.subarray((this.kRow + j) * s.dim, (this.kRow + j + n) * s.dim));
    rt.write(at.v, this.v.subarray((this.kRow + j) * s.valueDim, (this.kRow + j + n) * s.valueDim));
    if (this.mask) rt.u8.set(this.mask.subarray(this.maskRow + j, this.maskRow + j + n), at.mask);
  }

  private writeQueries(i: number, n: number): void {
    const { rt, at, s } = this;
    rt.write(at.q, this.q.subarray((this.qRow + i) * s.dim, (this.qRow + i + n) * s.dim));
    rt.write(at.dOut, this.dOut.subarray((this.qRow + i) * s.valueDim, (this.qRow + i + n) * s.valueDim));
  }

  private readKeyGradients(j: number, n: number): void {
    const { rt, at, s, g } = this;
    g.dk.set(rt.view(at.dk, n * s.dim), (this.kRow + j) * s.dim);
    g.dv.set(rt.view(at.dv, n * s.valueDim), (this.kRow + j) * s.valueDim);
  }

  /** Keys [from, to) into the state (S, z, run), as the forward pass does. */
  private accumulate(from: number, to: number): void {
    const { at, e } = this;
    for (const [j, n] of this.blocks(from, to)) {
      this.writeKeys(j, n);
      this.writePass(0, n);
      e.favor_accumulate(at.fm, at.pass, at.ws);
    }
  }

  /** Keys [from, to) given dS32, dz32 and their common stabilizer c: dk, dv. */
  private keyGradients(from: number, to: number, c: number): void {
    const { rt, at, e } = this;
    rt.f32.fill(c, at.c >>> 2, (at.c >>> 2) + this.C);
    for (const [j, n] of this.blocks(from, to)) {
      this.writeKeys(j, n);
      this.writePass(0, n);
      e.favor_backward_keys(at.fm, at.pass, at.ws, at.grads);
      this.readKeyGradients(j, n);
    }
  }

  private resetState(): void {
    const { rt, at, f, s } = this;
    clear(rt, at.S, f.Mp * s.valueDim);
    clear(rt, at.z, f.Mp);
    rt.f64[at.run >>> 3] = -Infinity;
  }

  bidirectional(): void {
    const { rt, at, f, e, s, g } = this;
    this.resetState();
    this.accumulate(0, s.keys);
    e.state_to_f32(at.S, at.z, at.S32, at.z32, f.Mp, s.valueDim);
    clear(rt, at.dS, f.Mp * s.valueDim);
    clear(rt, at.dz, f.Mp);
    for (const [i, n] of this.blocks(0, s.queries)) {
      this.writeQueries(i, n);
      this.writePass(n, 0);
      e.favor_backward_queries(at.fm, at.pass, at.ws, at.grads);
      g.dq.set(rt.view(at.dq, n * s.dim), (this.qRow + i) * s.dim);
    }
    e.state_to_f32(at.dS, at.dz, at.dS32, at.dz32, f.Mp, s.valueDim);
    this.keyGradients(0, s.keys, rt.f64[at.run >>> 3]);
  }

  causal(): void {
    const { rt, at, f, e, s, g } = this;
    const { queries: Lq, keys: Lk, dim: d, valueDim: dv } = s;
    const prefix = Math.max(0, Lk - Lq); // keys every query sees
    const blind = Math.max(0, Lq - Lk); // queries that see no key: zero gradients
    const rows = Lq - blind;
    this.resetState();
    this.accumulate(0, prefix);
    const cPrefix = rt.f64[at.run >>> 3];
    g.dq.fill(0, this.qRow * d, (this.qRow + blind) * d);
    // forward sweep: dq, and per row dnum, dden, c for the reverse sweep
    const dnum = new Float32Array(rows * dv);
    const dden = new Float32Array(rows);
    const cRow = new Float32Array(rows);
    for (const [i, n] of this.blocks(0, rows)) {
      this.writeQueries(blind + i, n);
      this.writeKeys(prefix + i, n);
      this.writePass(n, n);
      e.favor_causal_backward_forward(at.fm, at.pass, at.ws, at.grads);
      g.dq.set(rt.view(at.dq, n * d), (this.qRow + blind + i) * d);
      dnum.set(rt.view(at.dnum, n * dv), i * dv);
      dden.set(rt.view(at.dden, n), i);
      cRow.set(rt.view(at.cRow, n), i);
    }
    // reverse sweep: dk, dv of the aligned keys
    clear(rt, at.dS, f.Mp * dv); // R
    clear(rt, at.dz, f.Mp); // r
    rt.f64[at.rho >>> 3] = -Infinity;
    for (const [i, n] of this.blocks(0, rows, true)) {
      this.writeQueries(blind + i, n);
      this.writeKeys(prefix + i, n);
      rt.write(at.dnum, dnum.subarray(i * dv, (i + n) * dv));
      rt.write(at.dden, dden.subarray(i, i + n));
      rt.write(at.cRow, cRow.subarray(i, i + n));
      this.writePass(n, n);
      e.favor_causal_backward_reverse(at.fm, at.pass, at.ws, at.grads);
      this.readKeyGradients(prefix + i, n);
    }
    // the prefix keys: every query's suffix sums, at the prefix's scale
    if (prefix) {
      e.suffix_to_state_grad(at.dS, at.dz, at.rho, cPrefix, at.dS32, at.dz32, f.Mp, dv);
      this.keyGradients(0, prefix, cPrefix);
    }
  }
}
