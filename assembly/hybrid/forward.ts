// Exact local window + FAVOR+ (hybrid attention, docs/design.md §1b). Query i (aligned to key p_i) takes the
// keys of its window N(i) exactly, exp(q̂_i·k̂_j), and every other key through the FAVOR+ estimate
// φ(q_i)ᵀφ(k_j), in one numerator and one normalizer:
//   out_i = (Σ_{j∈N(i)} κ_ij·v_j + F_i) / (Σ_{j∈N(i)} κ_ij + f_i),
// F_i, f_i the FAVOR+ sums over keys outside N(i). Bidirectional, N(i) = [p_i − w, p_i + w] and the FAVOR+
// sums are the whole state minus the window's own φ(q_i)·φ(k_j) (G below); causal, N(i) = [p_i − w, p_i]
// and the state lags: it holds the keys up to p_i − w − 1 only (the caller feeds favor_causal's chunk the
// keys w + 1 rows behind the queries), so nothing is subtracted.
//
// Stabilizers: the FAVOR+ part of query i is at the scale exp(−s_i), s_i = c_q + c_K (the query's own
// largest exponent and the key stabilizer), so the exact part is taken at that scale too: exp(ℓ_ij − s_i),
// ℓ_ij = q̂_i·k̂_j. Where that would exceed 1 (ℓ far above s_i), both parts of the query are multiplied by
// exp(−t_i), t_i = max(0, max_j ℓ_ij − s_i): every exponent stays ≤ 0. A query whose FAVOR+ part is empty
// (its window holds every key, or no key is older than its window) uses t_i = max_j ℓ_ij alone: plain softmax.
//
// Memory contract: the descriptors of assembly/descriptors.ts (FeatureMap, Pass, Workspace, Hybrid); the pass's keys
// are a run from absolute key hy.first (see Hybrid). Scratch sizes, for chunks of C = pass.chunk rows and band rows
// B (bidirectional: C + 2w, causal: C + w): ws.u max(C, B) × mp, ws.phi C × Mp, ws.phiK B × Mp (causal C × Mp),
// ws.h, ws.top, ws.c max(C, B), ws.den C, ws.A C × C (causal), hy.hK B, hy.Lg, hy.G 16 × hybrid_tile_stride(w).
import { exp4 } from '../linalg/math';
import { hmax, madd } from '../linalg/simd';
import { gemm_nn, gemm_nt } from '../linalg/gemm';
import { feature_map, feature_row_stats } from '../feature-maps/features';
import { project_rows, queryFeatures } from '../favor/favor';
import { causalChunkPackedParts, updateState } from '../favor/causal-chunk';
import { divideRow, dot, stateToPacked, zeroMaskedRows } from '../favor/state';
import { FeatureMap, Hybrid, HybridGradients, Pass, Workspace } from '../descriptors';

/** Queries per tile of the window part: a tile reads the TILE + 2w keys its rows need (not the whole band). */
export const TILE: i32 = 16;

/** windowTiles' reach: the window on both sides of a query, clipped to the keys (bidirectional) … */
export const BOTH_SIDES: bool = false;
/** … or only up to the query's own key (causal): no last key to clip to. */
export const PAST_ONLY: bool = true;
/** The key count windowTiles is given where it is not read (PAST_ONLY). */
export const NO_KEY_LIMIT: i32 = 0x7fffffff;
/** windowTiles keeps nothing for a backward pass (the forward passes). */
export const KEEP_NOTHING: usize = 0;

/** Floats per row of the Lg and G tiles for window w (TILE + 2w keys, padded to whole f32x4 lanes). */
export function hybrid_tile_stride(w: i32): i32 {
  return (TILE + 2 * w + 3) & ~3;
}

/**
 * Bidirectional read-out of pass.queries queries (query i aligned to key hy.position + i), pass.chunk at a time, with
 * the window; the state ws.S32, ws.z32 is already f32 and ws.run holds the key stabilizer. Windows are clipped to
 * [0, hy.keys); pass.k, pass.v, pass.mask (0: every key kept) must hold the keys every chunk's window reaches,
 * from absolute key hy.first. φ(k) of the keys two consecutive chunks share is computed once: hy.cached, hy.cachedEnd
 * say which keys ws.phiK holds (0, 0 at a head's start) and are moved on, so blocks of whole chunks in successive
 * calls give the same bits as one call.
 */
export function hybrid_bidirectional(fm: FeatureMap, pass: Pass, ws: Workspace, hy: Hybrid): void {
  const rows = pass.queries, C = pass.chunk, d = fm.dim, dv = pass.valueDim, w = hy.window, Lk = hy.keys, first = hy.first;
  const p0 = hy.position;
  const k = pass.k, v = pass.v, mask = pass.mask, q = pass.q, out = pass.out;
  const cK = <f32>load<f64>(ws.run);
  let cached = hy.cached;
  let cachedEnd = hy.cachedEnd;
  for (let i = 0; i < rows; i += C) {
    const n = min(C, rows - i);
    const pFirst = p0 + i;
    const kb0 = max(0, pFirst - w);
    const nb = max(0, min(Lk, pFirst + n + w) - kb0);
    const keep = max(0, min(cachedEnd, kb0 + nb) - kb0);
    const at = kb0 - first;
    bidirectionalChunk(fm, ws, hy, q + (<usize>(i * d) << 2), k + (<usize>(at * d) << 2), v + (<usize>(at * dv) << 2),
                       mask ? mask + <usize>at : 0, n, nb, dv, cK, kb0, pFirst, keep, kb0 - cached, out + (<usize>(i * dv) << 2));
    cached = kb0;
    cachedEnd = kb0 + nb;
  }
  hy.cached = cached;
  hy.cachedEnd = cachedEnd;
}

/**
 * One chunk: query i aligned to key pFirst + i; the band kb, vb, maskB holds keys [kb0, kb0 + nb). The band's
 * first `keep` rows of φ(k) were computed by the previous chunk, at rows from.. of ws.phiK: only the others are mapped.
 */
function bidirectionalChunk(fm: FeatureMap, ws: Workspace, hy: Hybrid, q: usize, kb: usize, vb: usize, maskB: usize, rows: i32, nb: i32,
                            dv: i32, cK: f32, kb0: i32, pFirst: i32, keep: i32, from: i32, out: usize): void {
  const d = fm.dim, Mp = fm.Mp;
  const top = ws.top, cRow = ws.c, phiQ = ws.phi, phiK = ws.phiK, den = ws.den;
  const z32 = ws.z32;
  // FAVOR+ over every key: num = φ(Q)·S, den = φ(Q)·z
  queryFeatures(fm, q, rows, ws.u, ws.h, top, phiQ);
  gemm_nn(phiQ, ws.S32, out, rows, dv, Mp, Mp, dv, dv, 0);
  for (let i = 0; i < rows; i++) store<f32>(den + (<usize>i << 2), dot(phiQ + (<usize>(i * Mp) << 2), z32, Mp));
  // the band's φ(k) at the final key stabilizer, as in the state (masked rows zero)
  const rowBytes = <usize>Mp << 2;
  if (keep > 0 && from > 0) memory.copy(phiK, phiK + <usize>from * rowBytes, <usize>keep * rowBytes);
  const fresh = nb - keep;
  if (fresh > 0) {
    bandKeyFeatures(fm, ws, hy, kb + (<usize>(keep * d) << 2), fresh, maskB ? maskB + <usize>keep : 0, cK, phiK + <usize>keep * rowBytes);
  }
  for (let i = 0; i < rows; i++) store<f32>(cRow + (<usize>i << 2), cK);
  windowTiles(hy, q, kb, vb, maskB, rows, d, dv, phiQ, phiK, Mp, top, cRow, den, kb0, hy.keys, pFirst, BOTH_SIDES, out, KEEP_NOTHING);
}

/**
 * φ of `rows` band keys at k (masked rows zero) at the one key stabilizer cK, as the state holds them, into phi; ws.u,
 * hy.hK and ws.c are scratch (ws.top keeps the queries' stabilizers), ws.c is left holding cK.
 */
export function bandKeyFeatures(fm: FeatureMap, ws: Workspace, hy: Hybrid, k: usize, rows: i32, mask: usize, cK: f32, phi: usize): void {
  const u = ws.u, hK = hy.hK, cRow = ws.c;
  project_rows(fm, k, rows, u);
  feature_row_stats(fm, k, u, rows, hK, cRow);
  for (let j = 0; j < rows; j++) store<f32>(cRow + (<usize>j << 2), cK);
  feature_map(fm, u, rows, hK, cRow, phi);
  zeroMaskedRows(phi, mask, rows, fm.Mp);
}

/**
 * Causal read-out of pass.queries queries (query i aligned to key hy.position + i ≥ 0), pass.chunk at a time, on the
 * state ws.S, ws.z, ws.run, which must hold every key before hy.position − w of the first chunk. Each chunk takes
 * the FAVOR+ part from the state and from its lagged keys (key p − w − 1 beside the query on key p), then the
 * window [p − w, p] exactly; then the state takes the lagged keys. pass.k, pass.v and pass.mask (required: rows
 * before key 0 zero and masked) hold keys [hy.position − w − 1, hy.position + pass.queries) from hy.first.
 */
export function hybrid_causal(fm: FeatureMap, pass: Pass, ws: Workspace, hy: Hybrid): void {
  const rows = pass.queries, C = pass.chunk, d = fm.dim, dv = pass.valueDim, w = hy.window, first = hy.first;
  const p0 = hy.position;
  const k = pass.k, v = pass.v, mask = pass.mask, q = pass.q, out = pass.out;
  stateToPacked(ws.S, ws.z, ws.S32, ws.z32, fm.Mp, dv); // the read-out's packed f32 copy (causal-chunk.ts)
  for (let i = 0; i < rows; i += C) {
    const n = min(C, rows - i);
    const pFirst = p0 + i;
    const lag = pFirst - w - 1 - first;
    const kb0 = max(0, pFirst - w);
    const at = kb0 - first;
    causalChunk(fm, ws, hy, q + (<usize>(i * d) << 2), k + (<usize>(lag * d) << 2), v + (<usize>(lag * dv) << 2), mask + <usize>lag,
                k + (<usize>(at * d) << 2), v + (<usize>(at * dv) << 2), mask + <usize>at, n, dv, kb0, pFirst, out + (<usize>(i * dv) << 2));
  }
}

/** One causal chunk: the FAVOR+ part on the lagged keys kLag, vLag, maskLag, the window over the band kb, vb, maskB of keys [kb0, pFirst + rows). */
function causalChunk(fm: FeatureMap, ws: Workspace, hy: Hybrid, q: usize, kLag: usize, vLag: usize, maskLag: usize,
                     kb: usize, vb: usize, maskB: usize, rows: i32, dv: i32, kb0: i32, pFirst: i32, out: usize): void {
  const cPrev = <f32>load<f64>(ws.run);
  const cLast = causalChunkPackedParts(fm, ws, q, kLag, vLag, maskLag, out, rows, dv, cPrev);
  windowTiles(hy, q, kb, vb, maskB, rows, fm.dim, dv, ws.phi, 0, 0, ws.top, ws.c, ws.den, kb0, NO_KEY_LIMIT, pFirst, PAST_ONLY, out, KEEP_NOTHING);
  updateState(fm, ws, cPrev, cLast, dv);
}

/**
 * The window part of every query of a chunk, TILE queries at a time; then out = num / den. β (hy.beta) weighs the
 * FAVOR+ part by e^β against the exact one: the exact exponents are taken relative to s_i + β instead of s_i, so
 * that out_i = (F_i + e^{−β}Σ κ_ij v_j) / (f_i + e^{−β}Σ κ_ij). Where the FAVOR+ part is empty β cancels. hy.Lg and
 * hy.G are one tile's scratch, unless `keep` is a HybridGradients (the backward pass, backward.ts): then Lg, G
 * and keep.E are the whole chunk's (rows × hybrid_tile_stride(w)) and keep, per row, the weights B (in Lg), the
 * exponents e (−∞ outside the window, in E), and t and the FAVOR+ factor exp(−t) (in keep.tRow, keep.fsRow).
 * phiK = 0: nothing is subtracted from the FAVOR+ part (it does not hold the window's keys).
 */
export function windowTiles(hy: Hybrid, q: usize, kb: usize, vb: usize, maskB: usize, rows: i32, d: i32, dv: i32,
                            phiQ: usize, phiK: usize, Mp: i32, top: usize, cK: usize, den: usize,
                            kb0: i32, Lk: i32, pFirst: i32, causal: bool, out: usize, keep: usize): void {
  const w = hy.window;
  const beta = hy.beta;
  const Lg = hy.Lg;
  const G = hy.G;
  const grads = changetype<HybridGradients>(keep);
  const E = keep ? grads.E : 0;
  const tRow = keep ? grads.tRow : 0;
  const fsRow = keep ? grads.fsRow : 0;
  const stride = hybrid_tile_stride(w);
  const logitScale = <f32>(1 / Math.sqrt(<f64>d)); // q̂·k̂ = q·k/√d
  for (let t0 = 0; t0 < rows; t0 += TILE) {
    const n = min(TILE, rows - t0);
    const pa = pFirst + t0;
    const lo = max(0, pa - w); // the tile's keys, absolute
    const hi = causal ? pa + n - 1 : min(Lk - 1, pa + n - 1 + w);
    const outTile = out + (<usize>(t0 * dv) << 2);
    const tileAt = E ? <usize>(t0 * stride) << 2 : 0;
    const LgT = Lg + tileAt;
    const GT = G + tileAt;
    if (hi >= lo) {
      const nk = hi - lo + 1;
      const ld = E ? stride : (nk + 3) & ~3;
      const kTile = kb + (<usize>((lo - kb0) * d) << 2);
      gemm_nt(q + (<usize>(t0 * d) << 2), kTile, LgT, n, nk, d, d, d, ld, 0);
      if (phiK) gemm_nt(phiQ + (<usize>(t0 * Mp) << 2), phiK + (<usize>((lo - kb0) * Mp) << 2), GT, n, nk, Mp, Mp, Mp, ld, 0);
      for (let i = 0; i < n; i++) {
        const p = pa + i;
        const rlo = max(0, p - w);
        const rhi = causal ? p : min(Lk - 1, p + w);
        const covers = !causal && rlo == 0 && rhi == Lk - 1;
        const s0 = load<f32>(top + (<usize>(t0 + i) << 2)) + load<f32>(cK + (<usize>(t0 + i) << 2));
        const s = beta != 0 ? s0 + beta : s0; // the exact part at exp(ℓ − s_i − β): the estimate weighs e^β (β = 0: as before, bit for bit)
        const r = <usize>(t0 + i) << 2;
        windowRow(LgT + (<usize>(i * ld) << 2), phiK ? GT + (<usize>(i * ld) << 2) : 0, ld, rlo - lo, rhi - lo,
                  maskB ? maskB + <usize>(lo - kb0) : 0, logitScale, s, !covers && s > -Infinity,
                  outTile + (<usize>(i * dv) << 2), dv, den + r,
                  E ? E + tileAt + (<usize>(i * ld) << 2) : 0, E ? tRow + r : 0, E ? fsRow + r : 0);
      }
      gemm_nn(LgT, vb + (<usize>((lo - kb0) * dv) << 2), outTile, n, dv, nk, ld, dv, dv, 1);
    } else if (E) { // no key in reach: nothing exact, the FAVOR+ part as it is
      for (let i = 0; i < n; i++) {
        memory.fill(LgT + (<usize>(i * stride) << 2), 0, <usize>stride << 2);
        const e = E + tileAt + (<usize>(i * stride) << 2);
        for (let j = 0; j < stride; j++) store<f32>(e + (<usize>j << 2), -Infinity);
        store<f32>(tRow + (<usize>(t0 + i) << 2), 0);
        store<f32>(fsRow + (<usize>(t0 + i) << 2), 1);
      }
    }
    for (let i = 0; i < n; i++) divideRow(outTile + (<usize>(i * dv) << 2), dv, load<f32>(den + (<usize>(t0 + i) << 2)));
  }
}

/**
 * One query's window, in place: the logits row (ld floats, keys lo.. of the tile) becomes the weights B_j =
 * exp(ℓ_j − s − t) − exp(−t)·G_j inside [rlo, rhi] (unmasked), 0 elsewhere; its FAVOR+ numerator and
 * denominator are multiplied by exp(−t) (or dropped when `favor` is false); den gains Σ_j B_j.
 */
function windowRow(row: usize, g: usize, ld: i32, rlo: i32, rhi: i32, mask: usize, logitScale: f32, s: f32, favor: bool,
                   num: usize, dv: i32, den: usize, eRow: usize, tOut: usize, fsOut: usize): void {
  const ref: f32 = favor ? s : 0;
  // e_j = ℓ_j − ref inside the window and unmasked, −∞ elsewhere, four lanes at a time (the mask is read in whole
  // words: up to 3 bytes past the tile's last key, inside the workspace, and those lanes are outside the window)
  const scale = f32x4.splat(logitScale);
  const shiftRef = f32x4.splat(-ref);
  const none = f32x4.splat(-Infinity);
  const lo4 = i32x4.splat(rlo);
  const hi4 = i32x4.splat(rhi);
  let best = none;
  for (let j = 0; j < ld; j += 4) {
    const p = row + (<usize>j << 2);
    const idx = i32x4.add(i32x4.splat(j), i32x4(0, 1, 2, 3));
    let inside = v128.and(i32x4.ge_s(idx, lo4), i32x4.le_s(idx, hi4));
    if (mask) {
      const bytes = i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(mask + <usize>j)));
      inside = v128.and(inside, i32x4.ne(bytes, i32x4.splat(0)));
    }
    const e = v128.bitselect(madd(v128.load(p), scale, shiftRef), none, inside);
    v128.store(p, e);
    best = f32x4.max(best, e);
  }
  const top: f32 = max(hmax(best), favor ? <f32>0 : <f32>-Infinity);
  if (eRow) memory.copy(eRow, row, <usize>ld << 2);
  if (top == -Infinity) { // no key at all: zeros (the division guard turns 0/0 into 0)
    memory.fill(row, 0, <usize>ld << 2);
    memory.fill(num, 0, <usize>dv << 2);
    store<f32>(den, 0);
    if (tOut) { store<f32>(tOut, 0); store<f32>(fsOut, 0); }
    return;
  }
  const favorScale: f32 = favor ? <f32>Math.exp(-<f64>top) : 0;
  if (tOut) { store<f32>(tOut, top); store<f32>(fsOut, favorScale); }
  const shift = f32x4.splat(-top);
  const gScale = f32x4.splat(favorScale);
  let sum = f32x4.splat(0);
  for (let j = 0; j < ld; j += 4) {
    const p = row + (<usize>j << 2);
    const e = v128.load(p);
    let b = exp4(f32x4.add(e, shift));
    if (g) b = v128.and(f32x4.sub(b, f32x4.mul(gScale, v128.load(g + (<usize>j << 2)))), f32x4.ne(e, none));
    v128.store(p, b);
    sum = f32x4.add(sum, b);
  }
  if (favorScale != 1) {
    for (let t = 0; t < dv; t++) store<f32>(num + (<usize>t << 2), load<f32>(num + (<usize>t << 2)) * favorScale);
  }
  const rowSum = f32x4.extract_lane(sum, 0) + f32x4.extract_lane(sum, 2) + (f32x4.extract_lane(sum, 1) + f32x4.extract_lane(sum, 3));
  store<f32>(den, load<f32>(den) * favorScale + rowSum);
}
