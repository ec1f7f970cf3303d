// Hybrid attention (docs/design.md §1b): an exact window of w keys around each query, FAVOR+ for the others, in one
// normalizer. The chunk loops are in assembly/hybrid/forward.ts (hybrid_bidirectional, hybrid_causal); these passes
// stage blocks of whole chunks of a head into a fixed workspace and call them. The workspace depends on the chunk,
// w, dim, valueDim and features, never on the length.
//
// Alignment: query i is aligned to key p_i = i + (keys − queries), as in the causal pass (a key cache: the last
// query sits on the last key). Bidirectional window [p_i − w, p_i + w], causal [p_i − w, p_i], clipped to the keys.
import { featureMapFloats, writeFeatures, type PreparedFeatures } from '../feature-maps/features.ts';
import { accumulateStaged, type StagedRegions } from '../favor/bidirectional.ts';
import { clearState, type StatePointers } from '../favor/causal.ts';
import { HYBRID_BYTES, PASS_BYTES, WORKSPACE_BYTES, writeHybrid, writePass, writeWorkspace, type HybridFields } from '../runtime/descriptors.ts';
import { withKernel } from '../runtime/guard.ts';
import { checkWorkspaceBytes } from '../runtime/heap.ts';
import type { ResolvedShape } from '../arguments/shapes.ts';
import { runtime, type Runtime } from '../runtime/wasm.ts';
import { planWorkspace, regionAddresses, stagingRows } from '../runtime/workspace.ts';

/** The window actually used (beyond queries + keys every window already holds every key) and the chunk rows. */
export function windowSizes(chunk: number, window: number, s: ResolvedShape): { w: number; C: number } {
  return { w: Math.min(window, s.queries + s.keys), C: Math.min(chunk, Math.max(s.queries, s.keys)) };
}

/** The sizes a hybrid pass works with: the shape's, the feature map's and the window's (windowSizes). */
export function passSizes(f: PreparedFeatures, chunk: number, window: number, s: ResolvedShape) {
  return { d: s.dim, dv: s.valueDim, Lq: s.queries, Lk: s.keys, mp: f.mp, Mp: f.Mp, ...windowSizes(chunk, window, s) };
}

/** Floats of the descriptor regions every hybrid workspace starts with (fm, pass, ws, hy). */
export function descriptorFloats(f: PreparedFeatures) {
  return { fm: featureMapFloats(f), pass: PASS_BYTES / 4, ws: WORKSPACE_BYTES / 4, hy: HYBRID_BYTES / 4 };
}

/** The window options and tiles of a Hybrid descriptor (the rest is per block). */
export function hybridFields(w: number, beta: number, r: Record<string, number>): Pick<HybridFields, 'window' | 'beta' | 'hK' | 'Lg' | 'G'> {
  return { window: w, beta, hK: r.hK, Lg: r.Lg, G: r.G };
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

/**
 * The band of keys whose φ(k) the chunk before a query at position p left in phiK (hybrid_bidirectional reuses it):
 * [cached, cachedEnd); none for a head's first chunk.
 */
export function cachedBand(p: number, first: boolean, C: number, w: number, Lk: number): { cached: number; cachedEnd: number } {
  if (first) return { cached: 0, cachedEnd: 0 };
  const cached = Math.max(0, p - C - w);
  return { cached, cachedEnd: cached + Math.max(0, Math.min(Lk, p + w) - cached) };
}

/** The pass under withKernel (guard.ts): a wasm trap becomes KERNEL_FAULT and the module is rebuilt. */
export function hybridBidirectionalForward(...args: Parameters<typeof bidirectionalPass>): void {
  withKernel(() => bidirectionalPass(...args));
}

function bidirectionalPass(f: PreparedFeatures, chunk: number, window: number, beta: number, s: ResolvedShape, q: Float32Array, k: Float32Array,
                           v: Float32Array, mask: Uint8Array | undefined, out: Float32Array): void {
  const rt = runtime();
  const e = rt.exports;
  const { d, dv, Lq, Lk, mp, Mp, w, C } = passSizes(f, chunk, window, s);
  const Bq = stagingRows(C, Lq); // queries per block
  const Bk = stagingRows(C, Lk); // keys per block of the state
  const staged = Math.max(Bk, Math.min(Lk, Bq + 2 * w)); // key rows staged: a block of the state, or a query block's band
  const band = Math.min(Lk, C + 2 * w); // keys a chunk of queries can see exactly
  const rowsMax = Math.max(C, band);
  const tile = 16 * e.hybrid_tile_stride(w);
  const plan = planWorkspace({
    ...descriptorFloats(f), q: Bq * d, k: staged * d, v: staged * dv, mask: Math.ceil(staged / 4) + 1, out: Bq * dv,
    u: rowsMax * mp, phi: C * Mp, phiK: band * Mp, h: rowsMax, hK: band, top: rowsMax, c: rowsMax, den: C,
    tmpS: Mp * dv, colSum: Mp, S: 2 * Mp * dv, z: 2 * Mp, S32: Mp * dv, z32: Mp, Lg: tile, G: tile, run: 2,
  });
  checkWorkspaceBytes(plan.bytes);
  const r = regionAddresses(rt.scratch(plan.bytes), plan.offsets);
  const fm = writeFeatures(rt, f, r.fm);
  writeWorkspace(rt.data, r.ws, r);

  for (let b = 0; b < s.batch; b++) {
    for (let hd = 0; hd < s.heads; hd++) {
      const head = b * s.heads + hd;
      // the FAVOR+ state of every key, as in the plain pass
      accumulateStaged(rt, f, s, head, Bk, C, k, v, mask, r as StagedRegions);
      e.state_to_f32(r.S, r.z, r.S32, r.z32, Mp, dv);
      // blocks of queries with the band of keys their windows reach
      for (let i = 0; i < Lq; i += Bq) {
        const rows = Math.min(Bq, Lq - i);
        const p = i + Lk - Lq;
        const first = Math.max(0, p - w);
        const end = Math.max(first, Math.min(Lk, p + rows + w));
        rt.write(r.q, q.subarray((head * Lq + i) * d, (head * Lq + i + rows) * d));
        writeRows(rt, k, v, mask, head * Lk, b * Lk, Lk, d, dv, first, end, r.k, r.v, r.mask);
        writePass(rt.data, r.pass, { q: r.q, k: r.k, v: r.v, mask: r.mask, out: r.out, queries: rows, keys: end - first, prefix: 0, valueDim: dv, chunk: C });
        writeHybrid(rt.data, r.hy, { ...hybridFields(w, beta, r), keys: Lk, position: p, first, ...cachedBand(p, i === 0, C, w, Lk) });
        e.hybrid_bidirectional(fm, r.pass, r.ws, r.hy);
        out.set(rt.view(r.out, rows * dv), (head * Lq + i) * dv);
      }
    }
  }
}

/** The scratch of the causal hybrid pass (hybrid_causal) for chunks of C rows, blocks of up to Bq queries and Bk older keys. */
export interface HybridCausalWorkspace {
  f: PreparedFeatures;
  C: number;
  w: number;
  /** estimateLogScale β: the FAVOR+ part weighs e^β against the exact one. */
  beta: number;
  dv: number;
  Bq: number;
  Bk: number;
  /** The regions' addresses (fm, pass, ws, hy: the descriptors). */
  r: Record<string, number>;
}

/** A causal hybrid workspace for heads of up to `queries` queries and `keys` keys. */
export function hybridCausalWorkspace(f: PreparedFeatures, C: number, w: number, beta: number, dv: number, queries: number, keys: number): HybridCausalWorkspace {
  const rt = runtime();
  const { mp, Mp, dim: d } = f;
  const Bq = stagingRows(C, queries);
  const Bk = stagingRows(C, Math.max(0, keys - w - 1));
  const staged = Math.max(Bk, Bq + w + 1); // older keys, or a query block's lagged keys and band
  const tile = 16 * rt.exports.hybrid_tile_stride(w);
  const plan = planWorkspace<string>({
    ...descriptorFloats(f), q: Bq * d, k: staged * d, v: staged * dv, mask: Math.ceil(staged / 4) + 1, out: Bq * dv,
    u: C * mp, phi: C * Mp, phiK: C * Mp, h: C, top: C, c: C, den: C, A: C * C, tmpS: Mp * dv, colSum: Mp,
    S32: Mp * dv, z32: Mp, Lg: tile, G: tile, S: 2 * Mp * dv, z: 2 * Mp, run: 2,
  });
  checkWorkspaceBytes(plan.bytes);
  const r = regionAddresses(rt.scratch(plan.bytes), plan.offsets);
  writeFeatures(rt, f, r.fm);
  return { f, C, w, beta, dv, Bq, Bk, r };
}

/** The state region of a workspace, for passes that need no persistent one. */
export function workspaceState(ws: HybridCausalWorkspace): StatePointers {
  return { S: ws.r.S, z: ws.r.z, run: ws.r.run };
}

/**
 * One head on state st: Lq query rows from qOff, Lk key and value rows from kOff (mask bytes from maskOff),
 * query i aligned to key i + Lk − Lq; outputs to out from row outOff. Queries aligned before key 0 get zeros.
 * The keys older than the first query's window are added to st first (whole chunks from key 0); then hybrid_causal
 * on blocks of queries with their lagged keys and band (keys [p − w − 1, p + rows), staged in one run).
 */
export function runHybridCausalHead(ws: HybridCausalWorkspace, st: StatePointers, q: Float32Array, qOff: number, Lq: number,
                                    k: Float32Array, v: Float32Array, kOff: number, Lk: number,
                                    mask: Uint8Array | undefined, maskOff: number, out: Float32Array, outOff: number): void {
  const rt = runtime();
  const { f, r, C, w, beta, dv, Bq, Bk } = ws;
  const d = f.dim;
  const e = rt.exports;
  writeWorkspace(rt.data, r.ws, { ...r, ...st });
  const shift = Lk - Lq; // query i is aligned to key i + shift
  const blind = Math.max(0, -shift);
  out.fill(0, outOff * dv, (outOff + blind) * dv);
  const older = Math.max(0, blind + shift - w - 1);
  for (let j = 0; j < older; j += Bk) {
    const n = Math.min(Bk, older - j);
    writeRows(rt, k, v, mask, kOff, maskOff, Lk, d, dv, j, j + n, r.k, r.v, r.mask);
    writePass(rt.data, r.pass, { k: r.k, v: r.v, mask: r.mask, queries: 0, keys: n, prefix: 0, valueDim: dv, chunk: C });
    e.favor_accumulate(r.fm, r.pass, r.ws);
  }
  for (let i = blind; i < Lq; i += Bq) {
    const rows = Math.min(Bq, Lq - i);
    const p = i + shift;
    rt.write(r.q, q.subarray((qOff + i) * d, (qOff + i + rows) * d));
    writeRows(rt, k, v, mask, kOff, maskOff, Lk, d, dv, p - w - 1, p + rows, r.k, r.v, r.mask);
    writePass(rt.data, r.pass, { q: r.q, k: r.k, v: r.v, mask: r.mask, out: r.out, queries: rows, keys: rows + w + 1, prefix: 0, valueDim: dv, chunk: C });
    writeHybrid(rt.data, r.hy, { ...hybridFields(w, beta, r), keys: Lk, position: p, first: p - w - 1, cached: 0, cachedEnd: 0 });
    e.hybrid_causal(r.fm, r.pass, r.ws, r.hy);
    out.set(rt.view(r.out, rows * dv), (outOff + i) * dv);
  }
}

/** The pass under withKernel (guard.ts). */
export function hybridCausalForward(...args: Parameters<typeof causalPass>): void {
  withKernel(() => causalPass(...args));
}

function causalPass(f: PreparedFeatures, chunk: number, window: number, beta: number, s: ResolvedShape, q: Float32Array, k: Float32Array,
                    v: Float32Array, mask: Uint8Array | undefined, out: Float32Array): void {
  const { queries: Lq, keys: Lk, valueDim: dv } = s;
  const { w, C } = windowSizes(chunk, window, s);
  const ws = hybridCausalWorkspace(f, C, w, beta, dv, Lq, Lk);
  const rt = runtime();
  const st = workspaceState(ws);
  for (let b = 0; b < s.batch; b++) {
    for (let hd = 0; hd < s.heads; hd++) {
      const head = b * s.heads + hd;
      clearState(rt, st, f, dv);
      runHybridCausalHead(ws, st, q, head * Lq, Lq, k, v, head * Lk, Lk, mask, b * Lk, out, head * Lq);
    }
  }
}
