// One chunk of favor_causal (causal.ts) and of hybrid_causal (assembly/hybrid/forward.ts), the same estimator as
// causal_chunk_read + causal_chunk_update (which stay the reference that the backward passes run) with less work per
// row (docs/design.md §1):
// - the masked block A = tril(Φ_Q Φ_Kᵀ) is computed block-lower only (16-column panels of Φ_Kᵀ that start at or
//   before a row), and A·V reads only those columns: about 5/8 of the square products at C = 64;
// - Φ_Kᵀ·V and the column sums of Φ_K are taken while φ(k) is in hand, before the queries reuse its rows;
// - the read-out's f32 copy of the state stays packed and up to date (written with each update of the f64 state)
//   instead of being converted from f64 before every chunk.
//
// Scratch (Workspace): phi holds φ(k) rows, then the queries' φ; phiK the packed Φ_Kᵀ (gemm_pack_bt, at the keys'
// own c_j); S32 the packed f32 state and z32 (stateToPacked before the first chunk); u, h, top, c (the keys' c_j),
// den, A, tmpS, colSum as in causal.ts.
import { keyFeaturesCausal, stateToQueries, trilScaled, scaleRow } from './causal';
import { queryFeatures } from './favor';
import { gemm_nn, gemm_nn_packed, gemm_nn_packed_lower, gemm_pack_bt, gemm_tn } from '../linalg/gemm';
import { carry, columnSums, divideRow, updateStatePacked } from './state';
import { FeatureMap, Workspace } from '../descriptors';

/** Rows of A per A·V product: the panel width of gemm_nn_packed_lower, so that each block reads only its columns. */
const PANEL: i32 = 16;

/** One chunk of `rows` aligned queries and keys: outputs to out, then the state (S, z, run and the packed S32, z32) takes the keys. */
export function causalChunkPacked(fm: FeatureMap, ws: Workspace, q: usize, k: usize, v: usize, mask: usize, out: usize, rows: i32, dv: i32): void {
  const cPrev = <f32>load<f64>(ws.run);
  const cLast = causalChunkPackedParts(fm, ws, q, k, v, mask, out, rows, dv, cPrev);
  const den = ws.den;
  for (let i = 0; i < rows; i++) divideRow(out + (<usize>(i * dv) << 2), dv, load<f32>(den + (<usize>i << 2)));
  updateState(fm, ws, cPrev, cLast, dv);
}

/**
 * causalChunkPacked before the division and the state's update: out holds each query's numerator and ws.den its
 * denominator at the query's scale, as causal_chunk_parts (causal.ts) leaves them for the hybrid window to add its
 * exact part (assembly/hybrid/forward.ts); ws.phi the queries' φ, ws.top their stabilizers, ws.c the keys' c_j, and
 * ws.tmpS, ws.colSum what updateState adds. The state (cPrev = ws.run) is read from the packed S32, z32. Returns c_last.
 */
export function causalChunkPackedParts(fm: FeatureMap, ws: Workspace, q: usize, k: usize, v: usize, mask: usize, out: usize, rows: i32, dv: i32,
                                       cPrev: f32): f32 {
  const Mp = fm.Mp, phi = ws.phi, cK = ws.c, A = ws.A;
  const cLast = chunkKeys(fm, ws, k, v, mask, rows, dv, cPrev, true);

  // queries: the state's part, then the block's
  queryFeatures(fm, q, rows, ws.u, ws.h, ws.top, phi);
  gemm_nn_packed(phi, ws.S32, out, rows, dv, Mp, Mp, dv, 0);
  gemm_nn_packed_lower(phi, ws.phiK, A, rows, rows, Mp, Mp, rows);
  trilScaled(A, cK, rows, cLast != cPrev);
  stateToQueries(out, ws.den, phi, ws.z32, A, cK, rows, Mp, dv, cPrev);
  for (let i = 0; i < rows; i += PANEL) {
    const n = min(PANEL, rows - i);
    gemm_nn(A + (<usize>(i * rows) << 2), v, out + (<usize>(i * dv) << 2), n, dv, i + n, rows, dv, dv, 1);
  }
  return cLast;
}

/** One chunk of `rows` keys whose queries are not read: the state takes exactly what causalChunkPacked gives it. */
export function causalChunkKeys(fm: FeatureMap, ws: Workspace, k: usize, v: usize, mask: usize, rows: i32, dv: i32): void {
  const cPrev = <f32>load<f64>(ws.run);
  updateState(fm, ws, cPrev, chunkKeys(fm, ws, k, v, mask, rows, dv, cPrev, false), dv);
}

/**
 * The keys' half of a chunk: cK = ws.c (the keys' c_j) and φ(k_j) at c_j, packed transposed into ws.phiK for the
 * block when `forQueries`; then, unless no key is kept, φ(k_j) at c_last in ws.phi, Φ_Kᵀ·V in ws.tmpS and the
 * column sums in ws.colSum. Returns c_last.
 */
@inline function chunkKeys(fm: FeatureMap, ws: Workspace, k: usize, v: usize, mask: usize, rows: i32, dv: i32, cPrev: f32,
                           forQueries: bool): f32 {
  const Mp = fm.Mp, phi = ws.phi, cK = ws.c;
  keyFeaturesCausal(fm, k, rows, mask, ws.u, ws.h, ws.top, cK, phi, cPrev);
  if (forQueries) gemm_pack_bt(phi, Mp, rows, Mp, ws.phiK);
  const cLast = load<f32>(cK + (<usize>(rows - 1) << 2));
  if (cLast != -Infinity) {
    if (cLast != cPrev) {
      for (let j = 0; j < rows; j++) {
        const f = carry(load<f32>(cK + (<usize>j << 2)), cLast);
        if (f != 1) scaleRow(phi + (<usize>(j * Mp) << 2), Mp, f);
      }
    }
    gemm_tn(phi, v, ws.tmpS, Mp, dv, rows, Mp, dv, dv, 0);
    columnSums(phi, rows, Mp, ws.colSum);
  }
  return cLast;
}

/** The state moves to c_last and takes the chunk's Φ_Kᵀ·V (ws.tmpS) and column sums (nothing when no key was kept). */
@inline export function updateState(fm: FeatureMap, ws: Workspace, cPrev: f32, cLast: f32, dv: i32): void {
  if (cLast == -Infinity) return;
  updateStatePacked(ws.S, ws.z, ws.tmpS, ws.colSum, cLast != cPrev ? <f64>carry(cPrev, cLast) : 1, fm.Mp, dv, ws.S32, ws.z32);
  store<f64>(ws.run, <f64>cLast);
}
