// Causal FAVOR+ over [batch, heads, seq, dim] buffers: per (batch, head), chunks of rows through
// favor_causal_chunk on a state (S, z, c) in wasm memory. The decoder's prefill runs the same loop on
// its persistent state. Query i sees keys j ≤ i + (keys − queries): with more keys than queries the
// first keys are a prefix every query sees (added to the state first); with fewer, the first queries
// see no key and get zeros.
import { projectionFloats, writeProjection, type PreparedFeatures } from '../feature-maps/features.ts';
import { withKernel } from '../runtime/guard.ts';
import { checkWorkspaceBytes } from '../runtime/heap.ts';
import type { ResolvedShape } from '../arguments/shapes.ts';
import { runtime, type Runtime } from '../runtime/wasm.ts';
import { planWorkspace } from '../runtime/workspace.ts';

/** Pointers of one head's state: S (Mp·dv f64), z (Mp f64), run (1 f64). */
export interface StatePointers {
  S: number;
  z: number;
  run: number;
}

/** Sets a state to empty: S = 0, z = 0, c = −∞. */
export function clearState(rt: Runtime, st: StatePointers, f: PreparedFeatures, dv: number): void {
  rt.f64.fill(0, st.S >>> 3, (st.S >>> 3) + f.Mp * dv);
  rt.f64.fill(0, st.z >>> 3, (st.z >>> 3) + f.Mp);
  rt.f64[st.run >>> 3] = -Infinity;
}

/** The scratch of causal chunks of up to C rows, and where its regions are. */
export class CausalWorkspace {
  private readonly rt: Runtime;
  private readonly f: PreparedFeatures;
  private readonly C: number;
  private readonly d: number;
  private readonly dv: number;
  private readonly at: Record<string, number>;
  private readonly wt: number;

  constructor(f: PreparedFeatures, C: number, dv: number, withState: boolean) {
    this.rt = runtime();
    this.f = f;
    this.C = C;
    this.d = f.dim;
    this.dv = dv;
    const { mp, Mp } = f;
    const d = f.dim;
    const state: Record<string, number> = withState ? { S: 2 * Mp * dv, z: 2 * Mp, run: 2 } : {};
    const plan = planWorkspace<string>({
      wt: projectionFloats(f), q: C * d, k: C * d, v: C * dv, mask: Math.ceil(C / 4), u: C * mp, phiQ: C * Mp, phiK: C * Mp,
      h: C, top: C, cK: C, den: C, A: C * C, S32: Mp * dv, z32: Mp, out: C * dv, ...state,
    });
    checkWorkspaceBytes(plan.bytes);
    const base = this.rt.scratch(plan.bytes);
    this.at = Object.fromEntries(Object.entries(plan.offsets).map(([key, off]) => [key, base + (off as number)]));
    this.wt = writeProjection(this.rt, f, this.at.wt);
  }

  /** The state region of this workspace (when created withState). */
  get state(): StatePointers {
    return { S: this.at.S, z: this.at.z, run: this.at.run };
  }

  /**
   * Runs `rows` aligned query/key rows through the causal chunks on state `st`: q rows from qOff
   * (in rows), k and v rows from kOff, mask bytes from maskOff, outputs to out at row outOff.
   */
  run(st: StatePointers, rows: number, q: Float32Array, qOff: number, k: Float32Array, v: Float32Array, kOff: number,
      mask: Uint8Array | undefined, maskOff: number, out: Float32Array, outOff: number): void {
    const { rt, f, at, d, dv } = this;
    for (let i = 0; i < rows; i += this.C) {
      const n = Math.min(this.C, rows - i);
      rt.write(at.q, q.subarray((qOff + i) * d, (qOff + i + n) * d));
      rt.write(at.k, k.subarray((kOff + i) * d, (kOff + i + n) * d));
      rt.write(at.v, v.subarray((kOff + i) * dv, (kOff + i + n) * dv));
      if (mask) rt.u8.set(mask.subarray(maskOff + i, maskOff + i + n), at.mask);
      rt.exports.favor_causal_chunk(f.map.id, at.q, at.k, at.v, n, d, dv, this.wt, f.m, f.mp, f.hScale, f.a, f.epsilon,
        mask ? at.mask : 0, at.u, at.phiQ, at.phiK, at.h, at.top, at.cK, at.den, at.A, at.S32, at.z32, at.out,
        st.S, st.z, st.run);
      out.set(rt.view(at.out, n * dv), (outOff + i) * dv);
    }
  }

  /** Adds `rows` keys and values (from row kOff) to the state without reading anything out. */
  accumulate(st: StatePointers, rows: number, k: Float32Array, v: Float32Array, kOff: number, mask: Uint8Array | undefined, maskOff: number): void {
    const { rt, f, at, d, dv } = this;
    for (let j = 0; j < rows; j += this.C) {
      const n = Math.min(this.C, rows - j);
      rt.write(at.k, k.subarray((kOff + j) * d, (kOff + j + n) * d));
      rt.write(at.v, v.subarray((kOff + j) * dv, (kOff + j + n) * dv));
      if (mask) rt.u8.set(mask.subarray(maskOff + j, maskOff + j + n), at.mask);
      rt.exports.favor_accumulate(f.map.id, at.k, at.v, n, d, dv, this.wt, f.m, f.mp, f.hScale, f.a, f.epsilon,
        mask ? at.mask : 0, at.u, at.phiK, at.h, at.top, at.cK, at.S32, at.z32, st.S, st.z, st.run);
    }
  }
}

/** The pass under withKernel (guard.ts): a wasm trap becomes KERNEL_FAULT and the module is rebuilt. */
export function causalForward(...args: Parameters<typeof causalPass>): void {
  withKernel(() => causalPass(...args));
}

function causalPass(f: PreparedFeatures, chunk: number, s: ResolvedShape, q: Float32Array, k: Float32Array,
                    v: Float32Array, mask: Uint8Array | undefined, out: Float32Array): void {
  const { queries: Lq, keys: Lk, valueDim: dv } = s;
  const ws = new CausalWorkspace(f, Math.min(chunk, Math.max(Lq, Lk)), dv, true); // the same chunks as the pool (threaded.ts)
  const rt = runtime();
  const st = ws.state;
  const prefix = Math.max(0, Lk - Lq); // keys every query sees
  const blind = Math.max(0, Lq - Lk); // queries that see no key
  for (let b = 0; b < s.batch; b++) {
    for (let hd = 0; hd < s.heads; hd++) {
      const head = b * s.heads + hd;
      clearState(rt, st, f, dv);
      if (prefix) ws.accumulate(st, prefix, k, v, head * Lk, mask, b * Lk);
      out.fill(0, head * Lq * dv, (head * Lq + blind) * dv);
      ws.run(st, Lq - blind, q, head * Lq + blind, k, v, head * Lk + prefix, mask, b * Lk + prefix, out, head * Lq + blind);
    }
  }
}
