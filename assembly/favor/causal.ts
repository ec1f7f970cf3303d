// Causal FAVOR+, one chunk of rows at a time (docs/design.md §1): within the chunk a masked C×C block
// A = tril(Φ_Q Φ_Kᵀ), across chunks the running state (S, z). All of it is matmuls.
//
// Stabilizers: key j gets c_j = the running maximum of key exponents up to j (so a later key never
// changes an earlier output), and query i is read out at scale c_i:
//   num_i = exp(c_prev − c_i)·φ(q_i)ᵀS + Σ_{j≤i} exp(c_j − c_i)·(φ(q_i)ᵀφ(k_j))·v_j,  den_i likewise,
// where every exp(·) ≤ 1. The state then moves to c_last (the chunk's last c) before Φ_Kᵀ·V is added.
// Memory contract as in favor.ts; A is rows × rows, cK and den are one f32 per row.
import { feature_map, feature_row_stats } from '../feature-maps/features';
import { project_rows, queryFeatures } from './favor';
import { gemm_nn, gemm_nt, gemm_tn } from '../linalg/gemm';
import { hsum } from '../linalg/simd';
import { addChunkToState, carry, divideRow, dot, rescaleState, state_to_f32, stateToPacked, zeroMaskedRows } from './state';
import { causalChunkKeys, causalChunkPacked } from './causal-chunk';
import { accumulateRows } from './bidirectional';
import { FeatureMap, Pass, Workspace } from '../descriptors';

/**
 * Causal FAVOR+ on the lane's state (ws.S, ws.z, ws.run), which it continues (the caller empties it for a new head):
 * first pass.prefix keys that every query sees (added to the state), then pass.queries queries against the next
 * pass.queries keys, pass.chunk rows per chunk from the first of each (with out left out, 0, the keys only: q is not
 * read, and the state takes the bits it takes when the outputs are read). k, v and mask (0 or one byte per key) start
 * at the first prefix key; q and out (pass.queries rows × dim, × valueDim) at the first aligned row; pass.keys is
 * not read. Scratch in ws (causal-chunk.ts): u, phi, phiK, h, top, c, den, A, tmpS, colSum, and S32, z32 (the
 * state's packed f32 copy, written from S and z first: a pure function of them). Every caller cuts a head into the
 * same chunks (staged blocks of whole chunks, a pool job's whole head, the decoder's prefill), so every path gives
 * the same bits.
 */
export function favor_causal(fm: FeatureMap, pass: Pass, ws: Workspace): void {
  const prefix = pass.prefix;
  const C = pass.chunk;
  const dv = pass.valueDim;
  const xRow = <usize>fm.dim << 2; // bytes per row of q and k
  const vRow = <usize>dv << 2; // of v and out
  accumulateRows(fm, ws, pass.k, pass.v, pass.mask, prefix, C, dv);
  const k = pass.k + <usize>prefix * xRow;
  const v = pass.v + <usize>prefix * vRow;
  const mask = pass.mask ? pass.mask + <usize>prefix : 0;
  const rows = pass.queries;
  stateToPacked(ws.S, ws.z, ws.S32, ws.z32, fm.Mp, dv);
  for (let i = 0; i < rows; i += C) {
    const n = min(C, rows - i);
    const kc = k + <usize>i * xRow, vc = v + <usize>i * vRow, mc = mask ? mask + <usize>i : 0;
    if (!pass.out) causalChunkKeys(fm, ws, kc, vc, mc, n, dv);
    else causalChunkPacked(fm, ws, pass.q + <usize>i * xRow, kc, vc, mc, pass.out + <usize>i * vRow, n, dv);
  }
}

/**
 * The read-out half of a chunk of `rows` aligned queries (q) and keys (k, v, mask), on the lane's state (ws.S, ws.z,
 * ws.run). Leaves in scratch what the backward pass needs too: φ(k_j) at c_j in ws.phiK (masked rows zero), the
 * queries' φ in ws.phi with their own stabilizers in ws.top and their projection in ws.u, the prefix maxima c_j in cK,
 * the masked and rescaled block A (ws.A), the state before the chunk in ws.S32 and ws.z32 (f32), each row's
 * denominator in ws.den, and the outputs in out.
 */
export function causal_chunk_read(fm: FeatureMap, ws: Workspace, q: usize, k: usize, v: usize, mask: usize, cK: usize, out: usize,
                                  rows: i32, dv: i32): void {
  causal_chunk_parts(fm, ws, q, k, v, mask, cK, out, rows, dv);
  const den = ws.den;
  for (let i = 0; i < rows; i++) divideRow(out + (<usize>(i * dv) << 2), dv, load<f32>(den + (<usize>i << 2)));
}

/**
 * causal_chunk_read before the division: out holds each query's numerator and ws.den its denominator, both at the
 * query's scale exp(−top_i − cK_i) (the hybrid window, assembly/hybrid/forward.ts, adds its exact part to them).
 */
export function causal_chunk_parts(fm: FeatureMap, ws: Workspace, q: usize, k: usize, v: usize, mask: usize, cK: usize, out: usize,
                                   rows: i32, dv: i32): void {
  const Mp = fm.Mp;
  const phiQ = ws.phi, phiK = ws.phiK, A = ws.A, S32 = ws.S32, z32 = ws.z32;
  const cPrev = <f32>load<f64>(ws.run);

  // keys: prefix maxima of the exponents, then φ(k_j) at c_j
  keyFeaturesCausal(fm, k, rows, mask, ws.u, ws.h, ws.top, cK, phiK, cPrev);

  // queries, and the two parts of each output
  queryFeatures(fm, q, rows, ws.u, ws.h, ws.top, phiQ);
  state_to_f32(ws.S, ws.z, S32, z32, Mp, dv);
  gemm_nn(phiQ, S32, out, rows, dv, Mp, Mp, dv, dv, 0);
  maskedBlock(phiQ, phiK, A, cK, rows, Mp, cPrev);
  stateToQueries(out, ws.den, phiQ, z32, A, cK, rows, Mp, dv, cPrev);
  gemm_nn(A, v, out, rows, dv, rows, rows, dv, dv, 1);
}

/**
 * The state's part of a chunk's outputs, moved to each query's scale: out_i (= φ(q_i)ᵀS at cPrev) times
 * exp(cPrev − c_i), and den_i = exp(cPrev − c_i)·φ(q_i)ᵀz + Σ_{j≤i} A_ij (the block's part of the normalizer).
 */
export function stateToQueries(out: usize, den: usize, phiQ: usize, z32: usize, A: usize, cK: usize, rows: i32, Mp: i32, dv: i32,
                               cPrev: f32): void {
  for (let i = 0; i < rows; i++) {
    const fromState = carry(cPrev, load<f32>(cK + (<usize>i << 2)));
    const outRow = out + (<usize>(i * dv) << 2);
    if (fromState != 1) scaleRow(outRow, dv, fromState);
    const di = fromState * dot(phiQ + (<usize>(i * Mp) << 2), z32, Mp) + sumPrefix(A + (<usize>(i * rows) << 2), i + 1);
    store<f32>(den + (<usize>i << 2), di);
  }
}

/** Keys of a causal chunk: cK[j] = the running maximum of key exponents up to j (from cPrev), φ(k_j) at cK[j]. */
export function keyFeaturesCausal(fm: FeatureMap, k: usize, rows: i32, mask: usize, u: usize, h: usize, top: usize, cK: usize, phiK: usize,
                                  cPrev: f32): void {
  project_rows(fm, k, rows, u);
  feature_row_stats(fm, k, u, rows, h, top);
  let c = cPrev;
  for (let j = 0; j < rows; j++) {
    if (!mask || load<u8>(mask + j)) c = max(c, load<f32>(top + (<usize>j << 2)));
    store<f32>(cK + (<usize>j << 2), c);
  }
  feature_map(fm, u, rows, h, cK, phiK);
  zeroMaskedRows(phiK, mask, rows, fm.Mp);
}

/** A = tril(Φ_Q Φ_Kᵀ) with A_ij·exp(c_j − c_i): keys of a chunk sit at different scales, every factor ≤ 1. */
export function maskedBlock(phiQ: usize, phiK: usize, A: usize, cK: usize, rows: i32, Mp: i32, cPrev: f32): void {
  gemm_nt(phiQ, phiK, A, rows, rows, Mp, Mp, Mp, rows, 0);
  trilScaled(A, cK, rows, load<f32>(cK + (<usize>(rows - 1) << 2)) != cPrev);
}

/** Zeroes B_ij for j > i and, when the stabilizer grew inside the chunk, multiplies B_ij by exp(c_j − c_i). */
export function trilScaled(B: usize, cK: usize, rows: i32, grows: bool): void {
  for (let i = 0; i < rows; i++) {
    const row = B + (<usize>(i * rows) << 2);
    if (grows) {
      const ci = load<f32>(cK + (<usize>i << 2));
      for (let j = 0; j <= i; j++) {
        const p = row + (<usize>j << 2);
        store<f32>(p, load<f32>(p) * carry(load<f32>(cK + (<usize>j << 2)), ci));
      }
    }
    memory.fill(row + (<usize>(i + 1) << 2), 0, <usize>(rows - i - 1) << 2);
  }
}

/**
 * The update half: the state (ws.S, ws.z, ws.run) moves to c_last, then takes this chunk's keys, φ(k_j) at cK[j] in
 * ws.phiK (rescaled in place); ws.S32 and ws.z32 are scratch.
 */
export function causal_chunk_update(fm: FeatureMap, ws: Workspace, v: usize, cK: usize, rows: i32, dv: i32): void {
  const Mp = fm.Mp;
  const phiK = ws.phiK, S32 = ws.S32, z32 = ws.z32, S = ws.S, z = ws.z, run = ws.run;
  const cPrev = <f32>load<f64>(run);
  const cLast = load<f32>(cK + (<usize>(rows - 1) << 2));
  if (cLast == -Infinity) return; // no key yet
  if (cLast != cPrev) {
    rescaleState(S, z, Mp, dv, <f64>carry(cPrev, cLast));
    for (let j = 0; j < rows; j++) {
      const f = carry(load<f32>(cK + (<usize>j << 2)), cLast);
      if (f != 1) scaleRow(phiK + (<usize>(j * Mp) << 2), Mp, f);
    }
    store<f64>(run, <f64>cLast);
  }
  gemm_tn(phiK, v, S32, Mp, dv, rows, Mp, dv, dv, 0);
  addChunkToState(S, z, S32, phiK, rows, Mp, dv, z32); // S32 and z32 are free again: scratch
}

/** Σ row[0..n) in f32, four lanes at a time. */
export function sumPrefix(row: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) acc = f32x4.add(acc, v128.load(row + (<usize>j << 2)));
  let s = hsum(acc);
  for (; j < n; j++) s += load<f32>(row + (<usize>j << 2));
  return s;
}

export function scaleRow(row: usize, n: i32, f: f32): void {
  const fv = f32x4.splat(f);
  let t = 0;
  for (; t + 4 <= n; t += 4) v128.store(row + (<usize>t << 2), f32x4.mul(v128.load(row + (<usize>t << 2)), fv));
  for (; t < n; t++) store<f32>(row + (<usize>t << 2), load<f32>(row + (<usize>t << 2)) * f);
}
