// Hybrid attention (design notes §1b): an exact window of w keys around each query, FAVOR+ for the others, in one
// normalizer. The kernels are in assembly/hybrid/window.ts; these passes stream [batch, heads, seq, dim] buffers
// through a fixed workspace whose size depends on the chunk, w, dim, valueDim and features, never on the length.
//
// Alignment: query i is aligned to key p_i = i + (keys − queries), as in the causal pass (a key cache: the last
// query sits on the last key). Bidirectional window [p_i − w, p_i + w], causal [p_i − w, p_i], clipped to the keys.
import { projectionFloats, writeProjection, type PreparedFeatures } from '../feature-maps/features.ts';
import { accumulateHead } from '../favor/bidirectional.ts';
import { clearState, type StatePointers } from '../favor/causal.ts';
import { withKernel } from '../runtime/guard.ts';
import { checkWorkspaceBytes } from '../runtime/heap.ts';
import type { ResolvedShape } from '../arguments/shapes.ts';
import { runtime, type Runtime } from '../runtime/wasm.ts';
import { planWorkspace } from '../runtime/workspace.ts';

/** The window actually used (beyond queries + keys every window already holds every key) and the chunk rows. */
export function windowSizes(chunk: number, window: number, s: ResolvedShape): { w: number; C: number } {
  return { w: Math.min(window, s.queries + s.keys), C: Math.min(chunk, Math.max(s.queries, s.keys)) };
}

/** Bidirectional query chunks of C rows and the band of keys [kb0, kb0 + nb) their windows reach (query i on key i + keys − queries). */
export function* bidirectionalChunks(s: ResolvedShape, C: number, w: number): Generator<{ i: number; rows: number; pFirst: number; kb0: number; nb: number }> {
  for (let i = 0; i < s.queries; i += C) {
    const rows = Math.min(C, s.queries - i);
    const pFirst = i + s.keys - s.queries;
    const kb0 = Math.max(0, pFirst - w);
    yield { i, rows, pFirst, kb0, nb: Math.max(0, Math.min(s.keys, pFirst + rows + w) - kb0) };
  }
}

/**
 * Copies rows [from, to) of one head's keys and values (rows kOff.. of k and v) and of its mask bytes (from
 * maskOff) to wasm; rows outside [0, L) become zero, masked rows. Without a mask every real row is kept.
 */
export function writeRows(rt: Runtime, k: Float32Array, v: Float32Array, mask: Uint8Array | undefined, kOff: number, maskOff: number,
                   L: number, d: number, dv: number, from: number, to: number, kAt: number, vAt: number, maskAt: number): void {
  const lo = Math.max(0, from);
  const hi = Math.min(L, to);
  const before = Math.max(0, Math.min(to, 0) - from);
  rt.f32.fill(0, kAt >>> 2, (kAt >>> 2) + (to - from) * d);
  rt.f32.fill(0, vAt >>> 2, (vAt >>> 2) + (to - from) * dv);
  rt.u8.fill(0, maskAt, maskAt + (to - from));
  if (hi <= lo) return;
  rt.write(kAt + before * d * 4, k.subarray((kOff + lo) * d, (kOff + hi) * d));
  rt.write(vAt + before * dv * 4, v.subarray((kOff + lo) * dv, (kOff + hi) * dv));
  if (mask) rt.u8.set(mask.subarray(maskOff + lo, maskOff + hi), maskAt + before);
  else rt.u8.fill(1, maskAt + before, maskAt + before + (hi - lo));
}

/** The pass under withKernel (guard.ts): a wasm trap becomes KERNEL_FAULT and the module is rebuilt. */
export function windowBidirectionalForward(...args: Parameters<typeof bidirectionalPass>): void {
  withKernel(() => bidirectionalPass(...args));
}

function bidirectionalPass(f: PreparedFeatures, chunk: number, window: number, beta: number, s: ResolvedShape, q: Float32Array, k: Float32Array,
                           v: Float32Array, mask: Uint8Array | undefined, out: Float32Array): void {
  const rt = runtime();
  const e = rt.exports;
  const { dim: d, valueDim: dv, queries: Lq, keys: Lk } = s;
  const { mp, Mp } = f;
  const { w, C } = windowSizes(chunk, window, s);
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

  for (let b = 0; b < s.batch; b++) {
    for (let hd = 0; hd < s.heads; hd++) {
      const head = b * s.heads + hd;
      accumulateHead(rt, f, C, s, k, v, mask, head, wt, at); // the FAVOR+ state of every key, as in the plain pass
      e.favor_state_to_f32(at('S'), at('z'), at('S32'), at('z32'), Mp, dv);
      const cK = rt.f64[at('run') >>> 3];
      let prev = { kb0: 0, end: 0 }; // the previous chunk's band: its φ(k) rows are reused where the bands overlap
      for (const { i, rows, pFirst, kb0, nb } of bidirectionalChunks(s, C, w)) {
        rt.write(at('x'), q.subarray((head * Lq + i) * d, (head * Lq + i + rows) * d));
        writeRows(rt, k, v, mask, head * Lk, b * Lk, Lk, d, dv, kb0, kb0 + nb, at('kb'), at('vb'), at('mask'));
        const keep = Math.max(0, Math.min(prev.end, kb0 + nb) - kb0);
        e.window_bidirectional_chunk(kind, at('x'), at('kb'), at('vb'), at('mask'), rows, nb, d, dv, wt, f.m, mp, f.hScale, f.a, f.epsilon,
          cK, at('S32'), at('z32'), at('u'), at('h'), at('top'), at('hK'), at('c'), at('phi'), at('phiK'),
          at('den'), at('Lg'), at('G'), kb0, Lk, pFirst, w, beta, keep, kb0 - prev.kb0, at('out'));
        prev = { kb0, end: kb0 + nb };
        out.set(rt.view(at('out'), rows * dv), (head * Lq + i) * dv);
      }
    }
  }
}

/** The scratch of causal window chunks of up to C rows: region addresses, the projection, C and w. */
export interface WindowCausalWorkspace {
  f: PreparedFeatures;
  C: number;
  w: number;
  /** estimateLogScale β: the FAVOR+ part weighs e^β against the exact one. */
  beta: number;
  dv: number;
  at: Record<string, number>;
  wt: number;
}

export function windowCausalWorkspace(f: PreparedFeatures, C: number, w: number, beta: number, dv: number): WindowCausalWorkspace {
  const rt = runtime();
  const { mp, Mp, dim: d } = f;
  const band = C + w;
  const tile = 16 * rt.exports.window_tile_stride(w);
  const plan = planWorkspace<string>({
    wt: projectionFloats(f), q: C * d, kLag: C * d, vLag: C * dv, maskLag: Math.ceil(C / 4), kb: band * d, vb: band * dv,
    maskB: Math.ceil(band / 4), u: C * mp, phiQ: C * Mp, phiK: C * Mp, h: C, top: C, cK: C, den: C, A: C * C,
    S32: Mp * dv, z32: Mp, Lg: tile, G: tile, out: C * dv, S: 2 * Mp * dv, z: 2 * Mp, run: 2,
  });
  checkWorkspaceBytes(plan.bytes);
  const base = rt.scratch(plan.bytes);
  const at = Object.fromEntries(Object.entries(plan.offsets).map(([key, off]) => [key, base + (off as number)]));
  return { f, C, w, beta, dv, at, wt: writeProjection(rt, f, at.wt) };
}

/** The state region of a workspace, for passes that need no persistent one. */
export function workspaceState(ws: WindowCausalWorkspace): StatePointers {
  return { S: ws.at.S, z: ws.at.z, run: ws.at.run };
}

/**
 * One head on state st: Lq query rows from qOff, Lk key and value rows from kOff (mask bytes from maskOff),
 * query i aligned to key i + Lk − Lq; outputs to out from row outOff. Queries aligned before key 0 get zeros.
 * The keys older than the first query's window are added to st first; then each chunk's lagged keys.
 */
export function runWindowHead(ws: WindowCausalWorkspace, st: StatePointers, q: Float32Array, qOff: number, Lq: number,
                              k: Float32Array, v: Float32Array, kOff: number, Lk: number,
                              mask: Uint8Array | undefined, maskOff: number, out: Float32Array, outOff: number): void {
  const rt = runtime();
  const { f, at, C, w, beta, dv, wt } = ws;
  const { dim: d, mp } = f;
  const e = rt.exports;
  const kind = f.map.id;
  const shift = Lk - Lq; // query i is aligned to key i + shift
  const blind = Math.max(0, -shift);
  out.fill(0, outOff * dv, (outOff + blind) * dv);
  const older = Math.max(0, blind + shift - w - 1);
  for (let j = 0; j < older; j += C) {
    const n = Math.min(C, older - j);
    writeRows(rt, k, v, mask, kOff, maskOff, Lk, d, dv, j, j + n, at.kLag, at.vLag, at.maskLag);
    e.favor_accumulate(kind, at.kLag, at.vLag, n, d, dv, wt, f.m, mp, f.hScale, f.a, f.epsilon, at.maskLag,
      at.u, at.phiK, at.h, at.top, at.cK, at.S32, at.z32, st.S, st.z, st.run);
  }
  for (let i = blind; i < Lq; i += C) {
    const rows = Math.min(C, Lq - i);
    const pFirst = i + shift;
    const kb0 = Math.max(0, pFirst - w);
    const nb = pFirst + rows - kb0;
    rt.write(at.q, q.subarray((qOff + i) * d, (qOff + i + rows) * d));
    writeRows(rt, k, v, mask, kOff, maskOff, Lk, d, dv, pFirst - w - 1, pFirst - w - 1 + rows, at.kLag, at.vLag, at.maskLag);
    writeRows(rt, k, v, mask, kOff, maskOff, Lk, d, dv, kb0, kb0 + nb, at.kb, at.vb, at.maskB);
    e.window_causal_chunk(kind, at.q, at.kLag, at.vLag, at.maskLag, at.kb, at.vb, at.maskB, rows, nb,
      d, dv, wt, f.m, mp, f.hScale, f.a, f.epsilon, at.u, at.phiQ, at.phiK, at.h, at.top, at.cK, at.den, at.A,
      at.S32, at.z32, at.Lg, at.G, kb0, pFirst, w, beta, at.out, st.S, st.z, st.run);
    out.set(rt.view(at.out, rows * dv), (outOff + i) * dv);
  }
}

/** The pass under withKernel (guard.ts). */
export function windowCausalForward(...args: Parameters<typeof causalPass>): void {
  withKernel(() => causalPass(...args));
}

function causalPass(f: PreparedFeatures, chunk: number, window: number, beta: number, s: ResolvedShape, q: Float32Array, k: Float32Array,
                    v: Float32Array, mask: Uint8Array | undefined, out: Float32Array): void {
  const { queries: Lq, keys: Lk, valueDim: dv } = s;
  const { w, C } = windowSizes(chunk, window, s);
  const ws = windowCausalWorkspace(f, C, w, beta, dv);
  const rt = runtime();
  const st = workspaceState(ws);
  for (let b = 0; b < s.batch; b++) {
    for (let hd = 0; hd < s.heads; hd++) {
      const head = b * s.heads + hd;
      clearState(rt, st, f, dv);
      runWindowHead(ws, st, q, head * Lq, Lq, k, v, head * Lk, Lk, mask, b * Lk, out, head * Lq);
    }
  }
}
