// Causal FAVOR+ over [batch, heads, seq, dim] buffers: per (batch, head), blocks of whole chunks copied into wasm
// memory and run by the kernel's chunk loop (favor_causal, assembly/favor/causal.ts) on a state (S, z, c) in wasm
// memory. The decoder's prefill runs the same loop on its persistent states. Query i sees keys j ≤ i + (keys −
// queries): with more keys than queries the first keys are a prefix every query sees (added to the state first);
// with fewer, the first queries see no key and get zeros.
import { featureMapFloats, writeFeatures, type PreparedFeatures } from '../feature-maps/features.ts';
import { PASS_BYTES, WORKSPACE_BYTES, writePass, writeWorkspace } from '../runtime/descriptors.ts';
import { withKernel } from '../runtime/guard.ts';
import { checkWorkspaceBytes } from '../runtime/heap.ts';
import type { ResolvedShape } from '../arguments/shapes.ts';
import { runtime, type Runtime } from '../runtime/wasm.ts';
import { planWorkspace, regionAddresses, stagingRows } from '../runtime/workspace.ts';

/** Pointers of one head's state: S (Mp·dv f64), z (Mp f64), run (1 f64). */
export interface StatePointers {
  S: number;
  z: number;
  run: number;
}

/** Sets a state to empty: S = 0, z = 0, c = −∞ (the wasm state_clear). */
export function clearState(rt: Runtime, st: StatePointers, f: PreparedFeatures, dv: number): void {
  rt.exports.state_clear(st.S, st.z, st.run, f.Mp, dv);
}

/** Staging blocks of B rows (whole chunks of C) and the scratch of favor_causal, with descriptors written once. */
export class CausalWorkspace {
  private readonly rt: Runtime;
  private readonly f: PreparedFeatures;
  private readonly C: number;
  private readonly B: number;
  private readonly dv: number;
  private readonly at: Record<string, number>;
  private readonly fm: number;

  /**
   * Chunks of C rows for sequences of up to `rows` rows. `fm`: a FeatureMap descriptor already in wasm memory
   * (the decoder's), or 0 to write one here. `withState`: a state of its own (the `state` region).
   */
  constructor(f: PreparedFeatures, C: number, rows: number, dv: number, withState: boolean, fm = 0) {
    this.rt = runtime();
    this.f = f;
    this.C = C;
    this.B = stagingRows(C, rows);
    this.dv = dv;
    const { mp, Mp } = f;
    const d = f.dim;
    const B = this.B;
    const state: Record<string, number> = withState ? { S: 2 * Mp * dv, z: 2 * Mp, run: 2 } : {};
    const plan = planWorkspace<string>({
      fm: fm ? 0 : featureMapFloats(f), pass: PASS_BYTES / 4, ws: WORKSPACE_BYTES / 4,
      q: B * d, k: B * d, v: B * dv, mask: Math.ceil(B / 4), out: B * dv,
      u: C * mp, phi: C * Mp, phiK: C * Mp, h: C, top: C, c: C, den: C, A: C * C, tmpS: Mp * dv, colSum: Mp, S32: Mp * dv, z32: Mp,
      ...state,
    });
    checkWorkspaceBytes(plan.bytes);
    this.at = regionAddresses(this.rt.scratch(plan.bytes), plan.offsets);
    this.fm = fm || writeFeatures(this.rt, f, this.at.fm);
    writeWorkspace(this.rt.data, this.at.ws, this.at);
  }

  /** The state region of this workspace (when created withState). */
  get state(): StatePointers {
    return { S: this.at.S, z: this.at.z, run: this.at.run };
  }

  /** Runs the next passes on state `st` (the workspace's descriptor points at it). */
  useState(st: StatePointers): void {
    writeWorkspace(this.rt.data, this.at.ws, { ...this.at, ...st });
  }

  /**
   * Continues the state in use with `prefix` keys that every query sees (k, v rows from kOff, mask bytes from
   * maskOff), then `rows` aligned query/key rows: q rows from qOff, the keys after the prefix, outputs to out from
   * row outOff.
   */
  run(prefix: number, rows: number, q: Float32Array, qOff: number, k: Float32Array, v: Float32Array, kOff: number,
      mask: Uint8Array | undefined, maskOff: number, out: Float32Array, outOff: number): void {
    for (let j = 0; j < prefix; j += this.B) this.block(0, Math.min(this.B, prefix - j), q, 0, k, v, kOff + j, mask, maskOff + j);
    for (let i = 0; i < rows; i += this.B) {
      const n = Math.min(this.B, rows - i);
      this.block(n, 0, q, qOff + i, k, v, kOff + prefix + i, mask, maskOff + prefix + i);
      out.set(this.rt.view(this.at.out, n * this.dv), (outOff + i) * this.dv);
    }
  }

  /**
   * Continues the state in use with `rows` aligned rows (a multiple of the chunk) whose outputs are not wanted: their
   * keys only (k, v rows from kOff), which the state takes exactly as run() takes them, so that a run() of the rows
   * after them gives the outputs one run() over all the rows gives.
   */
  runKeys(rows: number, k: Float32Array, v: Float32Array, kOff: number): void {
    for (let i = 0; i < rows; i += this.B) this.block(Math.min(this.B, rows - i), 0, undefined, 0, k, v, kOff + i, undefined, 0);
  }

  /**
   * One staged block through favor_causal: `aligned` query/key rows (without q: their keys only), or (aligned = 0)
   * `prefix` keys only.
   */
  private block(aligned: number, prefix: number, q: Float32Array | undefined, qOff: number, k: Float32Array, v: Float32Array, kOff: number,
                mask: Uint8Array | undefined, maskOff: number): void {
    const { rt, at, dv } = this;
    const d = this.f.dim;
    const keys = aligned + prefix;
    if (aligned && q) rt.write(at.q, q.subarray(qOff * d, (qOff + aligned) * d));
    rt.write(at.k, k.subarray(kOff * d, (kOff + keys) * d));
    rt.write(at.v, v.subarray(kOff * dv, (kOff + keys) * dv));
    if (mask) rt.u8.set(mask.subarray(maskOff, maskOff + keys), at.mask);
    writePass(rt.data, at.pass, { q: q ? at.q : 0, k: at.k, v: at.v, mask: mask ? at.mask : 0, out: q ? at.out : 0, queries: aligned, keys,
                                  prefix, valueDim: dv, chunk: this.C });
    rt.exports.favor_causal(this.fm, at.pass, at.ws);
  }
}

/** The pass under withKernel (guard.ts): a wasm trap becomes KERNEL_FAULT and the module is rebuilt. */
export function causalForward(...args: Parameters<typeof causalPass>): void {
  withKernel(() => causalPass(...args));
}

function causalPass(f: PreparedFeatures, chunk: number, s: ResolvedShape, q: Float32Array, k: Float32Array,
                    v: Float32Array, mask: Uint8Array | undefined, out: Float32Array): void {
  const { queries: Lq, keys: Lk, valueDim: dv } = s;
  const rows = Math.max(Lq, Lk);
  const ws = new CausalWorkspace(f, Math.min(chunk, rows), rows, dv, true); // the same chunks as the pool (threaded.ts)
  const rt = runtime();
  const prefix = Math.max(0, Lk - Lq); // keys every query sees
  const blind = Math.max(0, Lq - Lk); // queries that see no key
  for (let b = 0; b < s.batch; b++) {
    for (let hd = 0; hd < s.heads; hd++) {
      const head = b * s.heads + hd;
      clearState(rt, ws.state, f, dv);
      out.fill(0, head * Lq * dv, (head * Lq + blind) * dv);
      ws.run(prefix, Lq - blind, q, head * Lq + blind, k, v, head * Lk, mask, b * Lk, out, head * Lq + blind);
    }
  }
}
