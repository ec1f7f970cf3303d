// Bidirectional FAVOR+ over [batch, heads, seq, dim] buffers, streamed through a fixed workspace:
// per (batch, head), key/value chunks build the state (S, z) in wasm, then query chunks are read out.
// The workspace depends on the chunk size, dim, valueDim and features, never on the sequence length.
import { projectionFloats, writeProjection, type PreparedFeatures } from '../feature-maps/features.ts';
import { withKernel } from '../runtime/guard.ts';
import { checkWorkspaceBytes } from '../runtime/heap.ts';
import type { ResolvedShape } from '../arguments/shapes.ts';
import { runtime, type Runtime } from '../runtime/wasm.ts';
import { planWorkspace } from '../runtime/workspace.ts';

/** The pass under withKernel (guard.ts): a wasm trap becomes KERNEL_FAULT and the module is rebuilt. */
export function bidirectionalForward(...args: Parameters<typeof bidirectionalPass>): void {
  withKernel(() => bidirectionalPass(...args));
}

/** The workspace regions accumulateHead uses. */
type AccumulateRegion = 'x' | 'v' | 'mask' | 'u' | 'phi' | 'h' | 'top' | 'c' | 'tmpS' | 'z32' | 'S' | 'z' | 'run';

/**
 * One head's keys and values, C rows per chunk, into the state at S, z, run (emptied first): the first half of
 * the pass (also of the hybrid's, window.ts). `at` gives the regions x, v, mask, u, phi, h, top, c, tmpS, z32, S, z, run.
 */
export function accumulateHead(rt: Runtime, f: PreparedFeatures, C: number, s: ResolvedShape, k: Float32Array, v: Float32Array,
                               mask: Uint8Array | undefined, head: number, wt: number, at: (region: AccumulateRegion) => number): void {
  const { dim: d, valueDim: dv, keys: Lk } = s;
  const b = Math.floor(head / s.heads);
  rt.f32.fill(0, at('S') >>> 2, (at('z') >>> 2) + 2 * f.Mp);
  rt.f64[at('run') >>> 3] = -Infinity;
  for (let j = 0; j < Lk; j += C) {
    const rows = Math.min(C, Lk - j);
    rt.write(at('x'), k.subarray((head * Lk + j) * d, (head * Lk + j + rows) * d));
    rt.write(at('v'), v.subarray((head * Lk + j) * dv, (head * Lk + j + rows) * dv));
    if (mask) rt.u8.set(mask.subarray(b * Lk + j, b * Lk + j + rows), at('mask'));
    rt.exports.favor_accumulate(f.map.id, at('x'), at('v'), rows, d, dv, wt, f.m, f.mp, f.hScale, f.a, f.epsilon, mask ? at('mask') : 0,
                                at('u'), at('phi'), at('h'), at('top'), at('c'), at('tmpS'), at('z32'), at('S'), at('z'), at('run'));
  }
}

function bidirectionalPass(f: PreparedFeatures, chunk: number, s: ResolvedShape, q: Float32Array, k: Float32Array,
                           v: Float32Array, mask: Uint8Array | undefined, out: Float32Array): void {
  const rt = runtime();
  const { dim: d, valueDim: dv, queries: Lq, keys: Lk } = s;
  const { mp, Mp } = f;
  const C = Math.min(chunk, Math.max(Lq, Lk));
  const plan = planWorkspace({
    wt: projectionFloats(f), x: C * d, v: C * dv, u: C * mp, phi: C * Mp, h: C, top: C, c: C, mask: Math.ceil(C / 4),
    tmpS: Mp * dv, S: 2 * Mp * dv, z: 2 * Mp, S32: Mp * dv, z32: Mp, out: C * dv, run: 2,
  });
  checkWorkspaceBytes(plan.bytes);
  const base = rt.scratch(plan.bytes);
  const at = (region: keyof typeof plan.offsets) => base + plan.offsets[region];
  const wt = writeProjection(rt, f, at('wt'));
  const e = rt.exports;
  const kind = f.map.id;

  for (let b = 0; b < s.batch; b++) {
    for (let hd = 0; hd < s.heads; hd++) {
      const head = b * s.heads + hd;
      accumulateHead(rt, f, C, s, k, v, mask, head, wt, at);
      e.favor_state_to_f32(at('S'), at('z'), at('S32'), at('z32'), Mp, dv);
      for (let i = 0; i < Lq; i += C) {
        const rows = Math.min(C, Lq - i);
        rt.write(at('x'), q.subarray((head * Lq + i) * d, (head * Lq + i + rows) * d));
        e.favor_readout(kind, at('x'), rows, d, dv, wt, f.m, mp, f.hScale, f.a, f.epsilon,
                        at('u'), at('phi'), at('h'), at('top'), at('c'), at('S32'), at('z32'), at('out'));
        out.set(rt.view(at('out'), rows * dv), (head * Lq + i) * dv);
      }
    }
  }
}
