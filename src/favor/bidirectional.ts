// Bidirectional FAVOR+ over [batch, heads, seq, dim] buffers, streamed through a fixed workspace: per (batch, head),
// blocks of keys and values are copied into wasm memory and added to the state (S, z) by the kernel's chunk loop
// (assembly/favor/bidirectional.ts), then blocks of queries are read out. The workspace is bounded whatever the
// sequence length: at most STAGING_ROWS rows are staged (../runtime/workspace.ts), plus the chunk's scratch and the state.
import { featureMapFloats, writeFeatures, type PreparedFeatures } from '../feature-maps/features.ts';
import { PASS_BYTES, WORKSPACE_BYTES, writePass, writeWorkspace } from '../runtime/descriptors.ts';
import { withKernel } from '../runtime/guard.ts';
import { checkWorkspaceBytes } from '../runtime/heap.ts';
import type { ResolvedShape } from '../arguments/shapes.ts';
import { runtime, type Runtime } from '../runtime/wasm.ts';
import { planWorkspace, regionAddresses, stagingRows } from '../runtime/workspace.ts';

/** The regions accumulateStaged uses: the descriptors (fm, pass, ws, written), the staging rows k, v, mask and the state. */
export type StagedRegions = Record<'fm' | 'pass' | 'ws' | 'k' | 'v' | 'mask' | 'S' | 'z' | 'run', number>;

/**
 * One head's keys and values into an emptied state (ws's S, z, run), blocks of B rows (whole chunks of C) copied into
 * wasm and added by favor_accumulate: the first half of the pass (also of the hybrid's, ../hybrid/forward.ts).
 */
export function accumulateStaged(rt: Runtime, f: PreparedFeatures, s: ResolvedShape, head: number, B: number, C: number,
                                 k: Float32Array, v: Float32Array, mask: Uint8Array | undefined, r: StagedRegions): void {
  rt.exports.state_clear(r.S, r.z, r.run, f.Mp, s.valueDim);
  for (let j = 0; j < s.keys; j += B) {
    stageKeys(rt, s, head, j, Math.min(B, s.keys - j), C, k, v, mask, r);
    rt.exports.favor_accumulate(r.fm, r.pass, r.ws);
  }
}

/** Keys j .. j + n − 1 of one head (values and mask with them) into the staging rows r.k, r.v, r.mask, and r.pass naming them. */
export function stageKeys(rt: Runtime, s: ResolvedShape, head: number, j: number, n: number, C: number, k: Float32Array, v: Float32Array,
                          mask: Uint8Array | undefined, r: StagedRegions): void {
  const { dim: d, valueDim: dv, keys: Lk } = s;
  const b = Math.floor(head / s.heads);
  rt.write(r.k, k.subarray((head * Lk + j) * d, (head * Lk + j + n) * d));
  rt.write(r.v, v.subarray((head * Lk + j) * dv, (head * Lk + j + n) * dv));
  if (mask) rt.u8.set(mask.subarray(b * Lk + j, b * Lk + j + n), r.mask);
  writePass(rt.data, r.pass, { k: r.k, v: r.v, mask: mask ? r.mask : 0, queries: 0, keys: n, prefix: 0, valueDim: dv, chunk: C });
}

/** The pass under withKernel (guard.ts): a wasm trap becomes KERNEL_FAULT and the module is rebuilt. */
export function bidirectionalForward(...args: Parameters<typeof bidirectionalPass>): void {
  withKernel(() => bidirectionalPass(...args));
}

function bidirectionalPass(f: PreparedFeatures, chunk: number, s: ResolvedShape, q: Float32Array, k: Float32Array,
                           v: Float32Array, mask: Uint8Array | undefined, out: Float32Array): void {
  const rt = runtime();
  const e = rt.exports;
  const { dim: d, valueDim: dv, queries: Lq, keys: Lk } = s;
  const { mp, Mp } = f;
  const C = Math.min(chunk, Math.max(Lq, Lk));
  const B = stagingRows(C, Math.max(Lq, Lk));
  const plan = planWorkspace({
    fm: featureMapFloats(f), pass: PASS_BYTES / 4, ws: WORKSPACE_BYTES / 4,
    q: B * d, k: B * d, v: B * dv, mask: Math.ceil(B / 4), out: B * dv,
    u: C * mp, phi: C * Mp, h: C, top: C, c: C, tmpS: Mp * dv, colSum: Mp, S: 2 * Mp * dv, z: 2 * Mp, S32: Mp * dv, z32: Mp, run: 2,
  });
  checkWorkspaceBytes(plan.bytes);
  const base = rt.scratch(plan.bytes);
  const at = (region: keyof typeof plan.offsets) => base + plan.offsets[region];
  const fm = writeFeatures(rt, f, at('fm'));
  const ws = at('ws');
  writeWorkspace(rt.data, ws, regionAddresses(base, plan.offsets));
  const pass = at('pass');

  for (let b = 0; b < s.batch; b++) {
    for (let hd = 0; hd < s.heads; hd++) {
      const head = b * s.heads + hd;
      accumulateStaged(rt, f, s, head, B, C, k, v, mask, { fm, pass, ws, k: at('k'), v: at('v'), mask: at('mask'), S: at('S'), z: at('z'), run: at('run') });
      e.state_to_f32(at('S'), at('z'), at('S32'), at('z32'), Mp, dv);
      for (let i = 0; i < Lq; i += B) {
        const rows = Math.min(B, Lq - i);
        rt.write(at('q'), q.subarray((head * Lq + i) * d, (head * Lq + i + rows) * d));
        writePass(rt.data, pass, { q: at('q'), out: at('out'), queries: rows, keys: 0, prefix: 0, valueDim: dv, chunk: C });
        e.favor_readout(fm, pass, ws);
        out.set(rt.view(at('out'), rows * dv), (head * Lq + i) * dv);
      }
    }
  }
}
