// Hybrid attention (design notes §1b): an exact window of w keys around each query, FAVOR+ for the others, in one
// normalizer. The kernels are in assembly/favor/window.ts; these passes stream [batch, heads, seq, dim] buffers
// through a fixed workspace whose size depends on the chunk, w, dim, valueDim and features, never on the length.
//
// Alignment: query i is aligned to key p_i = i + (keys − queries), as in the causal pass (a key cache: the last
// query sits on the last key). Bidirectional window [p_i − w, p_i + w], causal [p_i − w, p_i], clipped to the keys.
import { projectionFloats, writeProjection, type PreparedFeatures } from './features.ts';
import { clearState } from './causal.ts';
import { withKernel } from '../runtime/guard.ts';
import { checkWorkspaceBytes } from '../runtime/heap.ts';
import type { ResolvedShape } from '../arguments/shapes.ts';
import { planWorkspace, runtime, type Runtime } from '../runtime/wasm.ts';

/** The window actually used: beyond queries + keys every window already holds every key. */
function effectiveWindow(w: number, s: ResolvedShape): number {
  return Math.min(w, s.queries + s.keys);
}

/** Copies rows [from, to) of one head's keys, values and mask bytes to wasm; rows outside [0, L) become zero, masked rows. */
function writeRows(rt: Runtime, k: Float32Array, v: Float32Array, mask: Uint8Array | undefined, head: number, b: number,
                   L: number, d: number, dv: number, from: number, to: number, kAt: number, vAt: number, maskAt: number): void {
  const lo = Math.max(0, from);
  const hi = Math.min(L, to);
  const before = Math.max(0, Math.min(to, 0) - from);
  rt.f32.fill(0, kAt >>> 2, (kAt >>> 2) + (to - from) * d);
  rt.f32.fill(0, vAt >>> 2, (vAt >>> 2) + (to - from) * dv);
  rt.u8.fill(0, maskAt, maskAt + (to - from));
  if (hi <= lo) return;
  rt.write(kAt + before * d * 4, k.subarray((head * L + lo) * d, (head * L + hi) * d));
  rt.write(vAt + before * dv * 4, v.subarray((head * L + lo) * dv, (head * L + hi) * dv));
  if (mask) rt.u8.set(mask.subarray(b * L + lo, b * L + hi), maskAt + before);
  else rt.u8.fill(1, maskAt + before, maskAt + before + (hi - lo));
}

/** The pass under withKernel (guard.ts): a wasm trap becomes KERNEL_FAULT and the module is rebuilt. */
export function windowBidirectionalForward(...args: Parameters<typeof bidirectionalPass>): void {
  withKernel(() => bidirectionalPass(...args));
}

function bidirectionalPass(f: PreparedFeatures, chunk: number, window: number, s: ResolvedShape, q: Float32Array, k: Float32Array,
                           v: Float32Array, mask: Uint8Array | undefined, out: Float32Array): void {
  const rt = runtime();
  const e = rt.exports;
  const { dim: d, valueDim: dv, queries: Lq, keys: Lk } = s;
  const { mp, Mp } = f;
  const w = effectiveWindow(window, s);
  const C = Math.min(chunk, Math.max(Lq, Lk));
  const band = Math.min(Lk, C + 2 * w); // keys a chunk of queries can see exactly
  const rowsMax = Math.max(C, band);
  const tile = 16 * e.window_tile_stride(w);
  const plan = planWorkspace({
    wt: projectionFloats(f), x: C * d, v: C * dv, kb: band * d, vb: band * dv, mask: Math.ceil(rowsMax / 4),
    u: rowsMax * mp, phi: C * Mp, phiK: band * Mp, h: rowsMax, hK: band, top: rowsMax, c: rowsMax,
    tmpS: Mp * dv, S: 2 * Mp * dv, z: 2 * Mp, S32: Mp * dv, z32: Mp, den: C, Lg: tile, G: tile, out: C * dv, run: 2,
  });
  checkWorkspaceBytes(plan.bytes);
  const base = rt.scratch(plan.bytes);
  const at = (region: keyof typeof plan.offsets) => base + plan.offsets[region];
  const wt = writeProjection(rt, f, at('wt'));
  const kind = f.map.id;
  const shift = Lk - Lq; // query i is aligned to key i + shift

  for (let b = 0; b < s.batch; b++) {
    for (let hd = 0; hd < s.heads; hd++) {
      const head = b * s.heads + hd;
      // the FAVOR+ state of every key, as in the plain pass (bidirectional.ts)
      rt.f32.fill(0, at('S') >>> 2, (at('z') >>> 2) + 2 * Mp);
      rt.f64[at('run') >>> 3] = -Infinity;
      for (let j = 0; j < Lk; j += C) {
        const rows = Math.min(C, Lk - j);
        rt.write(at('x'), k.subarray((head * Lk + j) * d, (head * Lk + j + rows) * d));
        rt.write(at('v'), v.subarray((head * Lk + j) * dv, (head * Lk + j + rows) * dv));
        if (mask) rt.u8.set(mask.subarray(b * Lk + j, b * Lk + j + rows), at('mask'));
        e.favor_accumulate(kind, at('x'), at('v'), rows, d, dv, wt, f.m, mp, f.hScale, f.a, f.epsilon, mask ? at('mask') : 0,
                           at('u'), at('phi'), at('h'), at('top'), at('c'), at('tmpS'), at('z32'), at('S'), at('z'), at('run'));
      }
      e.favor_state_to_f32(at('S'), at('z'), at('S32'), at('z32'), Mp, dv);
      const cK = rt.f64[at('run') >>> 3];
      for (let i = 0; i < Lq; i += C) {
        const rows = Math.min(C, Lq - i);
        const pFirst = i + shift;
        const kb0 = Math.max(0, pFirst - w);
        const nb = Math.max(0, Math.min(Lk, pFirst + rows + w) - kb0);
        rt.write(at('x'), q.subarray((head * Lq + i) * d, (head * Lq + i + rows) * d));
        writeRows(rt, k, v, mask, head, b, Lk, d, dv, kb0, kb0 + nb, at('kb'), at('vb'), at('mask'));
        e.window_bidirectional_chunk(kind, at('x'), at('kb'), at('vb'), at('mask'), rows, nb, d, dv, wt, f.m, mp, f.hScale, f.a, f.epsilon,
          cK, at('S32'), at('z32'), at('u'), at('h'), at('top'), at('hK'), at('c'), at('phi'), at('phiK'),
          at('den'), at('Lg'), at('G'), kb0, Lk, pFirst, w, at('out'));
        out.set(rt.view(at('out'), rows * dv), (head * Lq + i) * dv);
      }
    }
  }
}

/** The pass under withKernel (guard.ts). */
export function windowCausalForward(...args: Parameters<typeof causalPass>): void {
  withKernel(() => causalPass(...args));
}

function causalPass(f: PreparedFeatures, chunk: number, window: number, s: ResolvedShape, q: Float32Array, k: Float32Array,
                    v: Float32Array, mask: Uint8Array | undefined, out: Float32Array): void {
  const rt = runtime();
  const e = rt.exports;
  const { dim: d, valueDim: dv, queries: Lq, keys: Lk } = s;
  const { mp, Mp } = f;
  const w = effectiveWindow(window, s);
  const C = Math.min(chunk, Math.max(Lq, Lk));
  const band = C + w;
  const tile = 16 * e.window_tile_stride(w);
  const plan = planWorkspace({
    wt: projectionFloats(f), q: C * d, kLag: C * d, vLag: C * dv, maskLag: Math.ceil(C / 4), kb: band * d, vb: band * dv,
    maskB: Math.ceil(band / 4), u: C * mp, phiQ: C * Mp, phiK: C * Mp, h: C, top: C, cK: C, den: C, A: C * C,
    S32: Mp * dv, z32: Mp, Lg: tile, G: tile, out: C * dv, S: 2 * Mp * dv, z: 2 * Mp, run: 2,
  });
  checkWorkspaceBytes(plan.bytes);
  const base = rt.scratch(plan.bytes);
  const at = (region: keyof typeof plan.offsets) => base + plan.offsets[region];
  const wt = writeProjection(rt, f, at('wt'));
  const kind = f.map.id;
  const st = { S: at('S'), z: at('z'), run: at('run') };
  const shift = Lk - Lq;
  const blind = Math.max(0, -shift); // queries aligned before key 0 see nothing

  for (let b = 0; b < s.batch; b++) {
    for (let hd = 0; hd < s.heads; hd++) {
      const head = b * s.heads + hd;
      clearState(rt, st, f, dv);
      out.fill(0, head * Lq * dv, (head * Lq + blind) * dv);
      // keys older than the first query's window go to the state at once
      const older = Math.max(0, blind + shift - w - 1);
      for (let j = 0; j < older; j += C) {
        const n = Math.min(C, older - j);
        writeRows(rt, k, v, mask, head, b, Lk, d, dv, j, j + n, at('kLag'), at('vLag'), at('maskLag'));
        e.favor_accumulate(kind, at('kLag'), at('vLag'), n, d, dv, wt, f.m, mp, f.hScale, f.a, f.epsilon, at('maskLag'),
          at('u'), at('phiK'), at('h'), at('top'), at('cK'), at('S32'), at('z32'), st.S, st.z, st.run);
      }
      for (let i = blind; i < Lq; i += C) {
        const rows = Math.min(C, Lq - i);
        const pFirst = i + shift;
        const kb0 = Math.max(0, pFirst - w);
        const nb = pFirst + rows - kb0;
        rt.write(at('q'), q.subarray((head * Lq + i) * d, (head * Lq + i + rows) * d));
        writeRows(rt, k, v, mask, head, b, Lk, d, dv, pFirst - w - 1, pFirst - w - 1 + rows, at('kLag'), at('vLag'), at('maskLag'));
        writeRows(rt, k, v, mask, head, b, Lk, d, dv, kb0, kb0 + nb, at('kb'), at('vb'), at('maskB'));
        e.window_causal_chunk(kind, at('q'), at('kLag'), at('vLag'), at('maskLag'), at('kb'), at('vb'), at('maskB'), rows, nb,
          d, dv, wt, f.m, mp, f.hScale, f.a, f.epsilon, at('u'), at('phiQ'), at('phiK'), at('h'), at('top'), at('cK'), at('den'), at('A'),
          at('S32'), at('z32'), at('Lg'), at('G'), kb0, pFirst, w, at('out'), st.S, st.z, st.run);
        out.set(rt.view(at('out'), rows * dv), (head * Lq + i) * dv);
      }
    }
  }
}
