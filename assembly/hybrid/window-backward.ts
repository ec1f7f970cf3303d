// Backward pass of bidirectional hybrid attention (assembly/hybrid/window.ts, design notes §1b), one chunk of
// queries: the vector–Jacobian products of out_i = Σ_j A_ij v_j / Σ_j A_ij with A_ij = κ_ij = exp(q̂_i·k̂_j) on the
// window and φ(q_i)·φ(k_j) elsewhere. All at the query's scale (stabilizers and the common factor exp(−t_i) are
// constants that cancel, as in backward.ts). With D_i the normalizer, g_i = dOut_i / D_i, γ_i = −(dOut_i·out_i)/D_i,
// P_ij = g_i·v_j + γ_i and f_i = exp(−t_i) the FAVOR+ factor (0 when the window holds every key):
//   FAVOR+ over all keys   dφ(q_i) = f_i (S g_i + z γ_i),  dS += Σ_i f_i φ(q_i) g_iᵀ,  dz += Σ_i f_i φ(q_i) γ_i
//   minus the window's     dφ(q_i) −= f_i Σ_{j∈N(i)} P_ij φ(k_j),  dφ(k_j) −= Σ_{i: j∈N(i)} f_i P_ij φ(q_i)
//   exact window           dℓ_ij = E_ij P_ij (E_ij = exp(ℓ_ij − s_i − t_i)): dq_i += Σ_j dℓ_ij k_j/√d, dk_j += Σ_i dℓ_ij q_i/√d
//   values                 dv_j += Σ_{i: j∈N(i)} B_ij g_i (B = the window weights of the forward pass, E − f·G)
// The keys' FAVOR+ gradients from (dS, dz) are favor_backward_keys' (backward.ts), after every query chunk.
// With β (estimateLogScale) the window's weights are e^{−β}κ_ij at the same scale: E_ij = exp(ℓ_ij − s_i − β − t_i),
// as windowTiles keeps them, and nothing else changes.
//
// Memory contract as window_bidirectional_chunk, plus: dOut rows × dv; Lg, G, E: rows × stride each
// (stride = window_tile_stride(w)); tRow, fsRow, den, gam, dden: rows; gU, dnum: rows × dv; dphiQ: rows × Mp;
// dphiK: nb × Mp; du: max(rows, nb) × mp; dh: max(rows, nb); tmpS: Mp × dv; colSum: Mp; dS, dz: f64 (added to);
// out: rows × dv (the outputs, recomputed); dq: rows × d (written); dqx: rows × d, dkx: nb × d scratch;
// dkb: nb × d and dvb: nb × dv, the band keys' window gradients (written).
import { gemm_nn, gemm_nt, gemm_tn } from '../linalg/gemm';
import { addOuter, blockGradient, feature_backward, weightedColumnSum } from '../favor/backward';
import { causal_chunk_parts, causal_chunk_update, scaleRow } from '../favor/causal';
import { feature_map, feature_row_stats, isTwoBlock } from '../feature-maps/features';
import { project_rows, queryFeatures } from '../favor/favor';
import { addToF64, carry, dot, zeroMaskedRows } from '../favor/state';
import { window_tile_stride, windowTiles } from './window';

const TILE: i32 = 16; // as window.ts

export function window_backward_chunk(kind: i32, q: usize, dOut: usize, kb: usize, vb: usize, maskB: usize, rows: i32, nb: i32,
                                      d: i32, dv: i32, wt: usize, m: i32, mp: i32, hScale: f32, a: f32, eps: f32,
                                      cK: f32, S32: usize, z32: usize,
                                      u: usize, h: usize, top: usize, hK: usize, cRow: usize, phiQ: usize, phiK: usize,
                                      den: usize, Lg: usize, G: usize, E: usize, tRow: usize, fsRow: usize,
                                      gU: usize, gam: usize, dnum: usize, dden: usize, dphiQ: usize, dphiK: usize, du: usize, dh: usize,
                                      tmpS: usize, colSum: usize, dS: usize, dz: usize,
                                      kb0: i32, Lk: i32, pFirst: i32, w: i32, beta: f32,
                                      out: usize, dq: usize, dqx: usize, dkx: usize, dkb: usize, dvb: usize): void {
  const Mp = isTwoBlock(kind) ? 2 * mp : mp;
  const stride = window_tile_stride(w);
  // the forward pass of the chunk, keeping the window's weights (window_bidirectional_chunk without reuse)
  queryFeatures(kind, q, rows, d, wt, m, mp, hScale, a, eps, u, h, top, phiQ);
  gemm_nn(phiQ, S32, out, rows, dv, Mp, Mp, dv, dv, 0);
  for (let i = 0; i < rows; i++) store<f32>(den + (<usize>i << 2), dot(phiQ + (<usize>(i * Mp) << 2), z32, Mp));
  if (nb > 0) {
    project_rows(kb, nb, d, wt, mp, u);
    feature_row_stats(kind, kb, u, nb, d, m, mp, hScale, hK, cRow);
    for (let j = 0; j < nb; j++) store<f32>(cRow + (<usize>j << 2), cK);
    feature_map(kind, u, nb, m, mp, hK, cRow, a, eps, phiK);
    zeroMaskedRows(phiK, maskB, nb, Mp);
  }
  for (let i = 0; i < max(rows, nb); i++) store<f32>(cRow + (<usize>i << 2), cK);
  windowTiles(q, kb, vb, maskB, rows, d, dv, phiQ, phiK, Mp, top, cRow, den, Lg, G, kb0, Lk, pFirst, w, beta, false, out, E, tRow, fsRow, stride);

  normalizerParts(dOut, out, den, fsRow, rows, dv, gU, gam, dnum, dden);
  // FAVOR+ over all keys: dΦ_Q = f·(G·Sᵀ + γ ⊗ z); dS += Φ_Qᵀ (f·g), dz += Φ_Qᵀ (f·γ)
  gemm_nt(dnum, S32, dphiQ, rows, Mp, dv, dv, dv, Mp, 0);
  addOuter(dphiQ, dden, z32, rows, Mp);
  gemm_tn(phiQ, dnum, tmpS, Mp, dv, rows, Mp, dv, dv, 0);
  addToF64(dS, tmpS, Mp * dv);
  weightedColumnSum(phiQ, dden, rows, Mp, colSum);
  addToF64(dz, colSum, Mp);

  memory.fill(dqx, 0, <usize>(rows * d) << 2);
  if (nb > 0) {
    memory.fill(dphiK, 0, <usize>(nb * Mp) << 2);
    memory.fill(dkb, 0, <usize>(nb * d) << 2);
    memory.fill(dvb, 0, <usize>(nb * dv) << 2);
  }
  windowGradients(q, kb, vb, rows, d, dv, Mp, phiQ, phiK, dphiQ, dphiK, Lg, G, E, tRow, fsRow, gU, gam, kb0, Lk, pFirst, w, false, stride,
                  dqx, dkb, dvb);
  // through the feature maps (softmax kernels: u is not read), then the exact parts
  feature_backward(kind, q, u, phiQ, dphiQ, rows, d, m, mp, hScale, a, eps, top, wt, du, dh, dq);
  addTo(dq, dqx, rows * d);
  if (nb > 0) {
    zeroMaskedRows(dphiK, maskB, nb, Mp);
    feature_backward(kind, kb, u, phiK, dphiK, nb, d, m, mp, hScale, a, eps, cRow, wt, du, dh, dkx);
    addTo(dkb, dkx, nb * d);
  }
}

/** x += y (n f32). */
function addTo(x: usize, y: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(x + (<usize>i << 2), load<f32>(x + (<usize>i << 2)) + load<f32>(y + (<usize>i << 2)));
}

/**
 * Causal hybrid backward, forward sweep, one chunk (window_causal_chunk's layout: lagged keys kLag, vLag, maskLag
 * beside the queries, the band kb, vb, maskB of keys [kb0, pFirst + rows)): recomputes the chunk, then
 *   FAVOR+ part (the lagged causal estimator)  as favor_causal_backward_forward (backward.ts) with dnum = f·g, dden = f·γ
 *   exact window                               dℓ_ij = E_ij P_ij: dq_i += Σ_j dℓ_ij k_j/√d, dk_j += Σ_i dℓ_ij q_i/√d, dv_j += Σ_i E_ij g_i
 * writes dq, stores dnum, dden and cK for the reverse sweep (favor_causal_backward_reverse on the lagged keys), writes
 * the band keys' window gradients dkb, dvb, and moves the state on. Bq (rows × rows) is scratch.
 */
export function window_causal_backward_forward(kind: i32, q: usize, dOut: usize, kLag: usize, vLag: usize, maskLag: usize,
                                               kb: usize, vb: usize, maskB: usize, rows: i32, nb: i32,
                                               d: i32, dv: i32, wt: usize, m: i32, mp: i32, hScale: f32, a: f32, eps: f32,
                                               u: usize, phiQ: usize, phiK: usize, h: usize, top: usize, cK: usize, den: usize, A: usize,
                                               S32: usize, z32: usize, Lg: usize, G: usize, E: usize, tRow: usize, fsRow: usize,
                                               gU: usize, gam: usize, dnum: usize, dden: usize, dphiQ: usize, du: usize, dh: usize, Bq: usize,
                                               kb0: i32, pFirst: i32, w: i32, beta: f32, out: usize, S: usize, z: usize, run: usize,
                                               dq: usize, dqx: usize, dkb: usize, dvb: usize): void {
  const Mp = isTwoBlock(kind) ? 2 * mp : mp;
  const stride = window_tile_stride(w);
  const cPrev = <f32>load<f64>(run);
  causal_chunk_parts(kind, q, kLag, vLag, rows, d, dv, wt, m, mp, hScale, a, eps, maskLag, u, phiQ, phiK, h, top, cK, den, A, S32, z32, out, S, z, run);
  windowTiles(q, kb, vb, maskB, rows, d, dv, phiQ, 0, 0, top, cK, den, Lg, G, kb0, 0x7fffffff, pFirst, w, beta, true, out, E, tRow, fsRow, stride);
  normalizerParts(dOut, out, den, fsRow, rows, dv, gU, gam, dnum, dden);
  // the FAVOR+ part, as favor_causal_backward_forward: from the state before the chunk, then within it
  gemm_nt(dnum, S32, dphiQ, rows, Mp, dv, dv, dv, Mp, 0);
  addOuter(dphiQ, dden, z32, rows, Mp);
  for (let i = 0; i < rows; i++) {
    const f = carry(cPrev, load<f32>(cK + (<usize>i << 2)));
    if (f != 1) scaleRow(dphiQ + (<usize>(i * Mp) << 2), Mp, f);
  }
  blockGradient(dnum, vLag, dden, cK, Bq, rows, dv);
  gemm_nn(Bq, phiK, dphiQ, rows, Mp, rows, rows, Mp, Mp, 1);
  // the window (exact only: nothing was subtracted)
  memory.fill(dqx, 0, <usize>(rows * d) << 2);
  memory.fill(dkb, 0, <usize>(nb * d) << 2);
  memory.fill(dvb, 0, <usize>(nb * dv) << 2);
  windowGradients(q, kb, vb, rows, d, dv, Mp, 0, 0, 0, 0, Lg, G, E, tRow, fsRow, gU, gam, kb0, 0x7fffffff, pFirst, w, true, stride,
                  dqx, dkb, dvb);
  feature_backward(kind, q, u, phiQ, dphiQ, rows, d, m, mp, hScale, a, eps, top, wt, du, dh, dq);
  addTo(dq, dqx, rows * d);
  causal_chunk_update(kind, vLag, rows, dv, mp, cK, phiK, S32, z32, S, z, run);
}

/** g_i = dOut_i / D_i (gU), γ_i = −(dOut_i·out_i)/D_i (gam), and the FAVOR+ part's dnum = f_i·g_i, dden = f_i·γ_i. */
function normalizerParts(dOut: usize, out: usize, den: usize, fsRow: usize, rows: i32, dv: i32, gU: usize, gam: usize, dnum: usize, dden: usize): void {
  for (let i = 0; i < rows; i++) {
    const D = load<f32>(den + (<usize>i << 2));
    const f = load<f32>(fsRow + (<usize>i << 2));
    let s: f32 = 0;
    for (let t = 0; t < dv; t++) {
      const off = <usize>(i * dv + t) << 2;
      const gi: f32 = D == 0 ? 0 : load<f32>(dOut + off) / D;
      s += load<f32>(dOut + off) * load<f32>(out + off);
      store<f32>(gU + off, gi);
      store<f32>(dnum + off, f * gi);
    }
    const gamma: f32 = D == 0 ? 0 : -s / D;
    store<f32>(gam + (<usize>i << 2), gamma);
    store<f32>(dden + (<usize>i << 2), f * gamma);
  }
}

/**
 * The window's gradients, tile by tile, from what windowTiles kept (B in Lg, exponents in E, t and f per row):
 * P_ij = g_i·v_j + γ_i, dℓ_ij = E_ij P_ij: dqx += dℓ·K/√d, dkb += dℓᵀ·Q/√d, dvb += Bᵀ·g; and, where the band was
 * subtracted from the FAVOR+ part (phiK ≠ 0), dφ(q) += C·Φ_K and dφ(k) += Cᵀ·Φ_Q with C_ij = −f_i P_ij.
 * E and G are overwritten.
 */
function windowGradients(q: usize, kb: usize, vb: usize, rows: i32, d: i32, dv: i32, Mp: i32,
                         phiQ: usize, phiK: usize, dphiQ: usize, dphiK: usize, Lg: usize, G: usize, E: usize, tRow: usize, fsRow: usize,
                         gU: usize, gam: usize, kb0: i32, Lk: i32, pFirst: i32, w: i32, causal: bool, stride: i32,
                         dqx: usize, dkb: usize, dvb: usize): void {
  const invSqrtD = <f32>(1 / Math.sqrt(<f64>d));
  for (let t0 = 0; t0 < rows; t0 += TILE) {
    const n = min(TILE, rows - t0);
    const pa = pFirst + t0;
    const lo = max(0, pa - w);
    const hi = causal ? pa + n - 1 : min(Lk - 1, pa + n - 1 + w);
    if (hi < lo) continue;
    const nk = hi - lo + 1;
    const tileAt = <usize>(t0 * stride) << 2;
    const P = E + tileAt; // P, then dℓ/√d, over the exponents (moved to C first)
    const Cc = G + tileAt;
    const gT = gU + (<usize>(t0 * dv) << 2);
    for (let i = 0; i < n; i++) {
      const eRow = P + (<usize>(i * stride) << 2);
      const cRow = Cc + (<usize>(i * stride) << 2);
      const t = load<f32>(tRow + (<usize>(t0 + i) << 2));
      for (let j = 0; j < nk; j++) {
        const e = load<f32>(eRow + (<usize>j << 2));
        store<f32>(cRow + (<usize>j << 2), e == -Infinity ? -Infinity : e - t); // log E_ij (−∞ outside the window)
      }
    }
    gemm_nt(gT, vb + (<usize>((lo - kb0) * dv) << 2), P, n, nk, dv, dv, dv, stride, 0); // g_i·v_j
    for (let i = 0; i < n; i++) {
      const f = load<f32>(fsRow + (<usize>(t0 + i) << 2));
      const gamma = load<f32>(gam + (<usize>(t0 + i) << 2));
      const pRow = P + (<usize>(i * stride) << 2);
      const cRow = Cc + (<usize>(i * stride) << 2);
      for (let j = 0; j < stride; j++) {
        const logE = j < nk ? load<f32>(cRow + (<usize>j << 2)) : <f32>-Infinity;
        const pij = load<f32>(pRow + (<usize>j << 2)) + gamma;
        const inside = logE != -Infinity;
        store<f32>(pRow + (<usize>j << 2), inside ? <f32>Math.exp(<f64>logE) * pij * invSqrtD : 0);
        store<f32>(cRow + (<usize>j << 2), inside ? -f * pij : 0);
      }
    }
    const kT = kb + (<usize>((lo - kb0) * d) << 2);
    gemm_nn(P, kT, dqx + (<usize>(t0 * d) << 2), n, d, nk, stride, d, d, 1);
    gemm_tn(P, q + (<usize>(t0 * d) << 2), dkb + (<usize>((lo - kb0) * d) << 2), nk, d, n, stride, d, d, 1);
    gemm_tn(Lg + tileAt, gT, dvb + (<usize>((lo - kb0) * dv) << 2), nk, dv, n, stride, dv, dv, 1);
    if (phiK) {
      gemm_nn(Cc, phiK + (<usize>((lo - kb0) * Mp) << 2), dphiQ + (<usize>(t0 * Mp) << 2), n, Mp, nk, stride, Mp, Mp, 1);
      gemm_tn(Cc, phiQ + (<usize>(t0 * Mp) << 2), dphiK + (<usize>((lo - kb0) * Mp) << 2), nk, Mp, n, stride, Mp, Mp, 1);
    }
  }
}
