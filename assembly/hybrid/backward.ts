// Backward pass of bidirectional hybrid attention (assembly/hybrid/forward.ts, docs/design.md §1b), one chunk of
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
// Memory contract: as hybrid_bidirectional / hybrid_causal (forward.ts) for one chunk, plus the HybridGradients
// regions (assembly/descriptors.ts); hy.Lg, hy.G and grad.E hold the whole chunk: pass.chunk × hybrid_tile_stride(w).
import { gemm_nn, gemm_nt, gemm_tn } from '../linalg/gemm';
import { addOuter, blockGradient, feature_backward, weightedColumnSum } from '../favor/backward';
import { causal_chunk_parts, causal_chunk_update, scaleRow } from '../favor/causal';
import { queryFeatures } from '../favor/favor';
import { addToF64, carry, dot, zeroMaskedRows } from '../favor/state';
import { bandKeyFeatures, BOTH_SIDES, hybrid_tile_stride, NO_KEY_LIMIT, PAST_ONLY, TILE, windowTiles } from './forward';
import { FeatureMap, Hybrid, HybridGradients, Pass, Workspace } from '../descriptors';

/**
 * One chunk of the bidirectional backward pass: pass.queries queries at pass.q (query i aligned to key hy.position + i)
 * with their grad.dOut; pass.k, pass.v, pass.mask hold the chunk's band, the pass.keys keys from hy.first =
 * max(0, hy.position − w) (windows clipped to [0, hy.keys)); the f32 state ws.S32, ws.z32 and the key stabilizer
 * ws.run of every key. Writes pass.out (the outputs, recomputed), grad.dq, grad.dkb, grad.dvb; adds to grad.dS, grad.dz.
 */
export function hybrid_backward_chunk(fm: FeatureMap, pass: Pass, ws: Workspace, hy: Hybrid, grad: HybridGradients): void {
  const d = fm.dim, Mp = fm.Mp;
  const q = pass.q, kb = pass.k, vb = pass.v, maskB = pass.mask, out = pass.out, rows = pass.queries, nb = pass.keys, dv = pass.valueDim;
  const u = ws.u, top = ws.top, cRow = ws.c, phiQ = ws.phi, phiK = ws.phiK, den = ws.den, tmpS = ws.tmpS, colSum = ws.colSum;
  const S32 = ws.S32, z32 = ws.z32;
  const cK = <f32>load<f64>(ws.run);
  const Lg = hy.Lg, G = hy.G, kb0 = hy.first, Lk = hy.keys, pFirst = hy.position, w = hy.window;
  const dOut = grad.dOut, E = grad.E, tRow = grad.tRow, fsRow = grad.fsRow, gU = grad.gU, gam = grad.gam, dnum = grad.dnum, dden = grad.dden;
  const dphiQ = grad.dphiQ, dphiK = grad.dphiK, du = grad.du, dh = grad.dh, dS = grad.dS, dz = grad.dz;
  const dq = grad.dq, dqx = grad.dqx, dkx = grad.dkx, dkb = grad.dkb, dvb = grad.dvb;
  const stride = hybrid_tile_stride(w);
  // the forward pass of the chunk, keeping the window's weights (as hybrid_bidirectional, without reuse)
  queryFeatures(fm, q, rows, u, ws.h, top, phiQ);
  gemm_nn(phiQ, S32, out, rows, dv, Mp, Mp, dv, dv, 0);
  for (let i = 0; i < rows; i++) store<f32>(den + (<usize>i << 2), dot(phiQ + (<usize>(i * Mp) << 2), z32, Mp));
  if (nb > 0) bandKeyFeatures(fm, ws, hy, kb, nb, maskB, cK, phiK);
  for (let i = 0; i < max(rows, nb); i++) store<f32>(cRow + (<usize>i << 2), cK);
  windowTiles(hy, q, kb, vb, maskB, rows, d, dv, phiQ, phiK, Mp, top, cRow, den, kb0, Lk, pFirst, BOTH_SIDES, out, changetype<usize>(grad));

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
  windowGradients(q, kb, vb, rows, d, dv, Mp, phiQ, phiK, dphiQ, dphiK, Lg, G, E, tRow, fsRow, gU, gam, kb0, Lk, pFirst, w, BOTH_SIDES, stride,
                  dqx, dkb, dvb);
  // through the feature maps (softmax kernels: u is not read), then the exact parts
  feature_backward(fm, q, u, phiQ, dphiQ, rows, top, du, dh, dq);
  addTo(dq, dqx, rows * d);
  if (nb > 0) {
    zeroMaskedRows(dphiK, maskB, nb, Mp);
    feature_backward(fm, kb, u, phiK, dphiK, nb, cRow, du, dh, dkx);
    addTo(dkb, dkx, nb * d);
  }
}

/** x += y (n f32). */
function addTo(x: usize, y: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(x + (<usize>i << 2), load<f32>(x + (<usize>i << 2)) + load<f32>(y + (<usize>i << 2)));
}

/**
 * Causal hybrid backward, forward sweep, one chunk (hybrid_causal's layout: pass.queries queries at pass.q, query i
 * aligned to key hy.position + i; pass.k, pass.v, pass.mask the keys [hy.position − w − 1, hy.position + pass.queries)
 * from hy.first, rows before key 0 zero and masked, so the lagged keys and the band are read in place): recomputes
 * the chunk, then
 *   FAVOR+ part (the lagged causal estimator)  as favor_causal_backward_forward (backward.ts) with dnum = f·g, dden = f·γ
 *   exact window                               dℓ_ij = E_ij P_ij: dq_i += Σ_j dℓ_ij k_j/√d, dk_j += Σ_i dℓ_ij q_i/√d, dv_j += Σ_i E_ij g_i
 * writes grad.dq, keeps grad.dnum, grad.dden and ws.c (cK) for the reverse sweep (favor_causal_backward_reverse on the
 * lagged keys), writes the band keys' window gradients grad.dkb, grad.dvb (keys [max(0, hy.position − w),
 * hy.position + pass.queries)), and moves the state ws.S, ws.z, ws.run on.
 */
export function hybrid_causal_backward_forward(fm: FeatureMap, pass: Pass, ws: Workspace, hy: Hybrid, grad: HybridGradients): void {
  const d = fm.dim, Mp = fm.Mp;
  const q = pass.q, out = pass.out, rows = pass.queries, dv = pass.valueDim;
  const top = ws.top, cK = ws.c, phiQ = ws.phi, den = ws.den;
  const S32 = ws.S32, z32 = ws.z32;
  const Lg = hy.Lg, G = hy.G, pFirst = hy.position, w = hy.window;
  const dOut = grad.dOut, E = grad.E, tRow = grad.tRow, fsRow = grad.fsRow, gU = grad.gU, gam = grad.gam, dnum = grad.dnum, dden = grad.dden;
  const dphiQ = grad.dphiQ, du = grad.du, dh = grad.dh, Bq = grad.Bq, dq = grad.dq, dqx = grad.dqx, dkb = grad.dkb, dvb = grad.dvb;
  const lag = pFirst - w - 1 - hy.first;
  const kLag = pass.k + (<usize>(lag * d) << 2), vLag = pass.v + (<usize>(lag * dv) << 2), maskLag = pass.mask + <usize>lag;
  const kb0 = max(0, pFirst - w);
  const nb = pFirst + rows - kb0;
  const at = kb0 - hy.first;
  const kb = pass.k + (<usize>(at * d) << 2), vb = pass.v + (<usize>(at * dv) << 2), maskB = pass.mask + <usize>at;
  const stride = hybrid_tile_stride(w);
  const cPrev = <f32>load<f64>(ws.run);
  causal_chunk_parts(fm, ws, q, kLag, vLag, maskLag, cK, out, rows, dv);
  windowTiles(hy, q, kb, vb, maskB, rows, d, dv, phiQ, 0, 0, top, cK, den, kb0, NO_KEY_LIMIT, pFirst, PAST_ONLY, out, changetype<usize>(grad));
  normalizerParts(dOut, out, den, fsRow, rows, dv, gU, gam, dnum, dden);
  // the FAVOR+ part, as favor_causal_backward_forward: from the state before the chunk, then within it
  gemm_nt(dnum, S32, dphiQ, rows, Mp, dv, dv, dv, Mp, 0);
  addOuter(dphiQ, dden, z32, rows, Mp);
  for (let i = 0; i < rows; i++) {
    const f = carry(cPrev, load<f32>(cK + (<usize>i << 2)));
    if (f != 1) scaleRow(dphiQ + (<usize>(i * Mp) << 2), Mp, f);
  }
  blockGradient(dnum, vLag, dden, cK, Bq, rows, dv);
  gemm_nn(Bq, ws.phiK, dphiQ, rows, Mp, rows, rows, Mp, Mp, 1);
  // the window (exact only: nothing was subtracted)
  memory.fill(dqx, 0, <usize>(rows * d) << 2);
  memory.fill(dkb, 0, <usize>(nb * d) << 2);
  memory.fill(dvb, 0, <usize>(nb * dv) << 2);
  windowGradients(q, kb, vb, rows, d, dv, Mp, 0, 0, 0, 0, Lg, G, E, tRow, fsRow, gU, gam, kb0, NO_KEY_LIMIT, pFirst, w, PAST_ONLY, stride,
                  dqx, dkb, dvb);
  feature_backward(fm, q, ws.u, phiQ, dphiQ, rows, top, du, dh, dq);
  addTo(dq, dqx, rows * d);
  causal_chunk_update(fm, ws, vLag, cK, rows, dv);
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
