// Exact local window + FAVOR+ (hybrid attention, design notes §1b). Query i (aligned to key p_i) takes the
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
// Memory contract (f32 unless said): q rows × d; kb, vb: the band, nb keys and values starting at absolute key
// kb0; maskB 0 or nb bytes (nonzero = keep); num rows × dv, den rows (the FAVOR+ parts, overwritten by the
// outputs in num); Lg, G: scratch of TILE × tileStride(w) each. The other scratch as in favor.ts.
import { exp4 } from '../linalg/math';
import { hmax, madd } from '../linalg/simd';
import { gemm_nn, gemm_nt } from '../linalg/gemm';
import { feature_map, feature_row_stats, isTwoBlock } from '../feature-maps/features';
import { project_rows, queryFeatures } from '../favor/favor';
import { causal_chunk_parts, causal_chunk_update } from '../favor/causal';
import { divideRow, dot, zeroMaskedRows } from '../favor/state';

/** Queries per tile of the window part: a tile reads the TILE + 2w keys its rows need (not the whole band). */
const TILE: i32 = 16;

/** Floats per row of the Lg and G tiles for window w (TILE + 2w keys, padded to whole f32x4 lanes). */
export function window_tile_stride(w: i32): i32 {
  return (TILE + 2 * w + 3) & ~3;
}

/**
 * Bidirectional read-out of a chunk of queries with the window (state S32, z32 already f32, key stabilizer cK).
 * Query i of the chunk is aligned to key pFirst + i; its window is clipped to [0, Lk). The band kb, vb must
 * hold keys [max(0, pFirst − w), min(Lk, pFirst + rows + w)). The band's first `keep` rows of φ(k) were computed
 * by the previous chunk, at rows from.. of phiK (consecutive chunks share 2w keys): only the others are mapped.
 */
export function window_bidirectional_chunk(kind: i32, q: usize, kb: usize, vb: usize, maskB: usize, rows: i32, nb: i32,
                                           d: i32, dv: i32, wt: usize, m: i32, mp: i32, hScale: f32, a: f32, eps: f32,
                                           cK: f32, S32: usize, z32: usize,
                                           u: usize, h: usize, top: usize, hK: usize, cRow: usize, phiQ: usize, phiK: usize,
                                           den: usize, Lg: usize, G: usize, kb0: i32, Lk: i32, pFirst: i32, w: i32, beta: f32, keep: i32, from: i32,
                                           out: usize): void {
  const Mp = isTwoBlock(kind) ? 2 * mp : mp;
  // FAVOR+ over every key: num = φ(Q)·S, den = φ(Q)·z
  queryFeatures(kind, q, rows, d, wt, m, mp, hScale, a, eps, u, h, top, phiQ);
  gemm_nn(phiQ, S32, out, rows, dv, Mp, Mp, dv, dv, 0);
  for (let i = 0; i < rows; i++) store<f32>(den + (<usize>i << 2), dot(phiQ + (<usize>(i * Mp) << 2), z32, Mp));
  // the band's φ(k) at the final key stabilizer, as in the state (masked rows zero)
  const rowBytes = <usize>Mp << 2;
  if (keep > 0 && from > 0) memory.copy(phiK, phiK + <usize>from * rowBytes, <usize>keep * rowBytes);
  const fresh = nb - keep;
  if (fresh > 0) {
    const kNew = kb + (<usize>(keep * d) << 2);
    const phiNew = phiK + <usize>keep * rowBytes;
    project_rows(kNew, fresh, d, wt, mp, u);
    feature_row_stats(kind, kNew, u, fresh, d, m, mp, hScale, hK, cRow);
    for (let j = 0; j < fresh; j++) store<f32>(cRow + (<usize>j << 2), cK);
    feature_map(kind, u, fresh, m, mp, hK, cRow, a, eps, phiNew);
    zeroMaskedRows(phiNew, maskB ? maskB + <usize>keep : 0, fresh, Mp);
  }
  for (let i = 0; i < rows; i++) store<f32>(cRow + (<usize>i << 2), cK);
  windowTiles(q, kb, vb, maskB, rows, d, dv, phiQ, phiK, Mp, top, cRow, den, Lg, G, kb0, Lk, pFirst, w, beta, false, out, 0, 0, 0, 0);
}

/**
 * One causal chunk of the hybrid: q rows aligned to keys pFirst.., the FAVOR+ chunk on the lagged keys kLag, vLag,
 * maskLag (key pFirst + i − w − 1 beside query i; rows before key 0 zero and masked), then the window part over the
 * band kb, vb, maskB = keys [max(0, pFirst − w), pFirst + rows), then the state takes the lagged keys.
 */
export function window_causal_chunk(kind: i32, q: usize, kLag: usize, vLag: usize, maskLag: usize,
                                    kb: usize, vb: usize, maskB: usize, rows: i32, nb: i32,
                                    d: i32, dv: i32, wt: usize, m: i32, mp: i32, hScale: f32, a: f32, eps: f32,
                                    u: usize, phiQ: usize, phiK: usize, h: usize, top: usize, cK: usize, den: usize, A: usize,
                                    S32: usize, z32: usize, Lg: usize, G: usize, kb0: i32, pFirst: i32, w: i32, beta: f32,
                                    out: usize, S: usize, z: usize, run: usize): void {
  causal_chunk_parts(kind, q, kLag, vLag, rows, d, dv, wt, m, mp, hScale, a, eps, maskLag,
                     u, phiQ, phiK, h, top, cK, den, A, S32, z32, out, S, z, run);
  windowTiles(q, kb, vb, maskB, rows, d, dv, phiQ, 0, 0, top, cK, den, Lg, G, kb0, 0x7fffffff, pFirst, w, beta, true, out, 0, 0, 0, 0);
  causal_chunk_update(kind, vLag, rows, dv, mp, cK, phiK, S32, z32, S, z, run);
}

/**
 * The window part of every query of a chunk, TILE queries at a time; then out = num / den. β (estimateLogScale)
 * weighs the FAVOR+ part by e^β against the exact one: the exact exponents are taken relative to s_i + β instead
 * of s_i, so that out_i = (F_i + e^{−β}Σ κ_ij v_j) / (f_i + e^{−β}Σ κ_ij). Where the FAVOR+ part is empty β cancels. Lg and G are one
 * tile's scratch, unless E is nonzero (the backward pass, window-backward.ts): then Lg, G and E are the whole
 * chunk's (rows × stride) and keep, per row, the weights B (in Lg), the exponents e (−∞ outside the window, in E),
 * and t and the FAVOR+ factor exp(−t) (in tRow, fsRow).
 */
export function windowTiles(q: usize, kb: usize, vb: usize, maskB: usize, rows: i32, d: i32, dv: i32,
                     phiQ: usize, phiK: usize, Mp: i32, top: usize, cK: usize, den: usize, Lg: usize, G: usize,
                     kb0: i32, Lk: i32, pFirst: i32, w: i32, beta: f32, causal: bool, out: usize,
                     E: usize, tRow: usize, fsRow: usize, stride: i32): void {
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
