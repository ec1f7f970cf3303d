// FAVOR+ backward passes over [batch, heads, seq, ·] buffers (assembly/favor/backward.ts for the math).
// Bidirectional: keys → (S, z); queries → dq, (dS, dz); keys again → dk, dv. Extra memory O(M·dv +
// chunk·M), whatever L is. Causal: a forward sweep over the chunks recomputes the outputs and gives dq,
// keeping per row dnum (dv values), dden and the stabilizer c; a reverse sweep carries the suffix sums
// of the later queries (R, r) and gives dk, dv. No per-token states are stored and no state is rebuilt
// by subtraction: extra memory O(L·(dv + 2)) floats in JS plus the fixed wasm workspace.
import type { Float32Result } from '../arguments/buffers.ts';
import { projectionFloats, writeProjection, type PreparedFeatures } from '../feature-maps/features.ts';
import { checkWorkspaceBytes } from '../runtime/heap.ts';
import { readProjectionGradient } from '../feature-maps/feature-gradients.ts';
import type { ResolvedShape } from '../arguments/shapes.ts';
import { runtime, type Runtime } from '../runtime/wasm.ts';
import { planWorkspace } from '../runtime/workspace.ts';

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

function workspace(rt: Runtime, f: PreparedFeatures, C: number, d: number, dv: number, withProjection: boolean) {
  const { mp, Mp } = f;
  const plan = planWorkspace({
    wt: projectionFloats(f), q: C * d, k: C * d, v: C * dv, dOut: C * dv, mask: Math.ceil(C / 4),
    u: C * mp, phiQ: C * Mp, phiK: C * Mp, dphi: C * Mp, tmpK: C * Mp, du: C * mp,
    h: C, top: C, c: C, cK: C, den: C, dh: C, dden: C, A: C * C, B: C * C,
    dnum: C * dv, out: C * dv, tmpV: C * dv, dx: C * d, dvOut: C * dv,
    tmpS: Mp * dv, colSum: Mp, S: 2 * Mp * dv, z: 2 * Mp, run: 2, S32: Mp * dv, z32: Mp,
    dS: 2 * Mp * dv, dz: 2 * Mp, rho: 2, dS32: Mp * dv, dz32: Mp,
    dWt: withProjection ? mp * d : 0, dW: withProjection ? 2 * mp * d : 0, // f32 scratch, f64 sum (projection-grad.ts)
  });
  checkWorkspaceBytes(plan.bytes);
  const base = rt.scratch(plan.bytes);
  const at = Object.fromEntries(Object.entries(plan.offsets).map(([key, off]) => [key, base + (off as number)])) as Record<keyof typeof plan.offsets, number>;
  writeProjection(rt, f, at.wt);
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
  const at = workspace(rt, f, C, s.dim, s.valueDim, g.dW !== undefined);
  if (g.dW) clear(rt, at.dW, f.mp * s.dim);
  for (let b = 0; b < s.batch; b++) {
    for (let hd = 0; hd < s.heads; hd++) {
      const head = b * s.heads + hd;
      const pass = new HeadPass(rt, f, C, s, at, head, b, q, k, v, dOut, mask, g);
      if (causal) pass.causal();
      else pass.bidirectional();
    }
  }
  if (g.dW) readProjectionGradient(rt, f, at.dW, g.dW);
}

/** One (batch, head): row offsets into the caller's buffers and the chunk loops. */
class HeadPass {
  private readonly e: Runtime['exports'];
  private readonly common: number[];
  private readonly qRow: number;
  private readonly kRow: number;
  private readonly maskRow: number;

  constructor(private readonly rt: Runtime, private readonly f: PreparedFeatures, private readonly C: number, private readonly s: ResolvedShape,
              private readonly at: Workspace, head: number, batch: number, private readonly q: Float32Array, private readonly k: Float32Array,
              private readonly v: Float32Array, private readonly dOut: Float32Array, private readonly mask: Uint8Array | undefined,
              private readonly g: Gradients) {
    this.e = rt.exports;
    this.common = [s.dim, s.valueDim, f.wt ? at.wt : 0, f.m, f.mp, f.hScale, f.a, f.epsilon];
    this.qRow = head * s.queries;
    this.kRow = head * s.keys;
    this.maskRow = batch * s.keys;
  }

  /** Chunks of [from, to) in order (or reversed), with their row count. */
  private *chunks(from: number, to: number, reverse = false): Generator<[number, number]> {
    const starts: number[] = [];
    for (let i = from; i < to; i += this.C) starts.push(i);
    if (reverse) starts.reverse();
    for (const i of starts) yield [i, Math.min(this.C, to - i)];
  }

  private writeKeys(j: number, n: number): number {
    const { rt, at, s } = this;
    rt.write(at.k, this.k.subarray((this.kRow + j) * s.dim, (this.kRow + j + n) * s.dim));
    rt.write(at.v, this.v.subarray((this.kRow + j) * s.valueDim, (this.kRow + j + n) * s.valueDim));
    if (!this.mask) return 0;
    rt.u8.set(this.mask.subarray(this.maskRow + j, this.maskRow + j + n), at.mask);
    return at.mask;
  }

  private writeQueries(i: number, n: number): void {
    const { rt, at, s } = this;
    rt.write(at.q, this.q.subarray((this.qRow + i) * s.dim, (this.qRow + i + n) * s.dim));
    rt.write(at.dOut, this.dOut.subarray((this.qRow + i) * s.valueDim, (this.qRow + i + n) * s.valueDim));
  }

  private readKeyGradients(j: number, n: number): void {
    const { rt, at, s, g } = this;
    g.dk.set(rt.view(at.dx, n * s.dim), (this.kRow + j) * s.dim);
    g.dv.set(rt.view(at.dvOut, n * s.valueDim), (this.kRow + j) * s.valueDim);
  }

  /** With dW requested: adds Gᵀ·X of the chunk just through feature_backward (G left in du, X the rows at x). */
  private addProjectionGradient(x: number, n: number): void {
    if (!this.g.dW) return;
    const { at, f, s } = this;
    this.e.projection_gradient(at.du, x, n, s.dim, f.mp, at.dWt, at.dW);
  }

  /** Keys [from, to) into the state (S, z, run), as the forward pass does. */
  private accumulate(from: number, to: number): void {
    const { at, f, e } = this;
    for (const [j, n] of this.chunks(from, to)) {
      const mask = this.writeKeys(j, n);
      e.favor_accumulate(f.map.id, at.k, at.v, n, ...(this.common as [number, number, number, number, number, number, number, number]),
        mask, at.u, at.phiK, at.h, at.top, at.c, at.tmpS, at.colSum, at.S, at.z, at.run);
    }
  }

  /** Keys [from, to) given dS32, dz32 and their common stabilizer c: dk, dv. */
  private keyGradients(from: number, to: number, c: number): void {
    const { rt, at, f, e } = this;
    rt.f32.fill(c, at.c >>> 2, (at.c >>> 2) + this.C);
    for (const [j, n] of this.chunks(from, to)) {
      const mask = this.writeKeys(j, n);
      e.favor_backward_keys(f.map.id, at.k, at.v, mask, n, ...(this.common as [number, number, number, number, number, number, number, number]),
        at.dS32, at.dz32, at.c, at.u, at.phiK, at.h, at.top, at.dphi, at.du, at.dh, at.dx, at.dvOut);
      this.addProjectionGradient(at.k, n);
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
    e.favor_state_to_f32(at.S, at.z, at.S32, at.z32, f.Mp, s.valueDim);
    clear(rt, at.dS, f.Mp * s.valueDim);
    clear(rt, at.dz, f.Mp);
    for (const [i, n] of this.chunks(0, s.queries)) {
      this.writeQueries(i, n);
      e.favor_backward_queries(f.map.id, at.q, at.dOut, n, ...(this.common as [number, number, number, number, number, number, number, number]),
        at.S32, at.z32, at.u, at.phiQ, at.h, at.top, at.dphi, at.du, at.dh, at.dnum, at.dden, at.tmpS, at.colSum, at.dS, at.dz, at.dx);
      this.addProjectionGradient(at.q, n);
      g.dq.set(rt.view(at.dx, n * s.dim), (this.qRow + i) * s.dim);
    }
    e.favor_state_to_f32(at.dS, at.dz, at.dS32, at.dz32, f.Mp, s.valueDim);
    this.keyGradients(0, s.keys, rt.f64[at.run >>> 3]);
  }

  causal(): void {
    const { rt, at, f, e, s, g } = this;
    const { queries: Lq, keys: Lk, dim: d, valueDim: dv } = s;
    const prefix = Math.max(0, Lk - Lq); // keys every query sees
    const blind = Math.max(0, Lq - Lk); // queries that see no key: zero gradients
    const rows = Lq - blind;
    const common = this.common as [number, number, number, number, number, number, number, number];
    this.resetState();
    this.accumulate(0, prefix);
    const cPrefix = rt.f64[at.run >>> 3];
    g.dq.fill(0, this.qRow * d, (this.qRow + blind) * d);
    // forward sweep: dq, and per row dnum, dden, c for the reverse sweep
    const dnum = new Float32Array(rows * dv);
    const dden = new Float32Array(rows);
    const cRow = new Float32Array(rows);
    for (const [i, n] of this.chunks(0, rows)) {
      this.writeQueries(blind + i, n);
      const mask = this.writeKeys(prefix + i, n);
      e.favor_causal_backward_forward(f.map.id, at.q, at.k, at.v, at.dOut, n, ...common, mask,
        at.u, at.phiQ, at.phiK, at.h, at.top, at.cK, at.den, at.A, at.S32, at.z32, at.out, at.S, at.z, at.run,
        at.dphi, at.du, at.dh, at.B, at.dnum, at.dden, at.dx);
      this.addProjectionGradient(at.q, n);
      g.dq.set(rt.view(at.dx, n * d), (this.qRow + blind + i) * d);
      dnum.set(rt.view(at.dnum, n * dv), i * dv);
      dden.set(rt.view(at.dden, n), i);
      cRow.set(rt.view(at.cK, n), i);
    }
    // reverse sweep: dk, dv of the aligned keys
    clear(rt, at.dS, f.Mp * dv); // R
    clear(rt, at.dz, f.Mp); // r
    rt.f64[at.rho >>> 3] = -Infinity;
    for (const [i, n] of this.chunks(0, rows, true)) {
      this.writeQueries(blind + i, n);
      const mask = this.writeKeys(prefix + i, n);
      rt.write(at.dnum, dnum.subarray(i * dv, (i + n) * dv));
      rt.write(at.dden, dden.subarray(i, i + n));
      rt.write(at.cK, cRow.subarray(i, i + n));
      e.favor_causal_backward_reverse(f.map.id, at.q, at.k, at.v, n, ...common, mask,
        at.u, at.phiQ, at.phiK, at.h, at.top, at.cK, at.A, at.B, at.dnum, at.dden, at.dphi, at.du, at.dh,
        at.dS, at.dz, at.rho, at.S32, at.z32, at.tmpK, at.tmpV, at.colSum, at.dx, at.dvOut);
      this.addProjectionGradient(at.k, n);
      this.readKeyGradients(prefix + i, n);
    }
    // the prefix keys: every query's suffix sums, at the prefix's scale
    if (prefix) {
      e.suffix_to_state_grad(at.dS, at.dz, at.rho, cPrefix, at.dS32, at.dz32, f.Mp, dv);
      this.keyGradients(0, prefix, cPrefix);
    }
  }
}
