// One chunk of favor_causal (causal.ts), the same estimator as causal_chunk_read + causal_chunk_update (which stay
// the reference that the backward pass and the hybrid run) with less work per row (docs/design.md §1):
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
  const Mp = fm.Mp, phi = ws.phi, phiKT = ws.phiK, cK = ws.c, A = ws.A, tmpS = ws.tmpS, colSum = ws.colSum;
  const cPrev = <f32>load<f64>(ws.run);

  // keys: φ(k_j) at c_j, packed transposed for the block; then at c_last for the state's update
  keyFeaturesCausal(fm, k, rows, mask, ws.u, ws.h, ws.top, cK, phi, cPrev);
  gemm_pack_bt(phi, Mp, rows, Mp, phiKT);
  const cLast = load<f32>(cK + (<usize>(rows - 1) << 2));
  const grows = cLast != cPrev;
  const anyKey = cLast != -Infinity;
  if (anyKey) {
    if (grows) {
      for (let j = 0; j < rows; j++) {
        const f = carry(load<f32>(cK + (<usize>j << 2)), cLast);
        if (f != 1) scaleRow(phi + (<usize>(j * Mp) << 2), Mp, f);
      }
    }
    gemm_tn(phi, v, tmpS, Mp, dv, rows, Mp, dv, dv, 0);
    columnSums(phi, rows, Mp, colSum);
  }

  // queries: the state's part, the block's, then the division
  queryFeatures(fm, q, rows, ws.u, ws.h, ws.top, phi);
  gemm_nn_packed(phi, ws.S32, out, rows, dv, Mp, Mp, dv, 0);
  gemm_nn_packed_lower(phi, phiKT, A, rows, rows, Mp, Mp, rows);
  trilScaled(A, cK, rows, grows);
  stateToQueries(out, ws.den, phi, ws.z32, A, cK, rows, Mp, dv, cPrev);
  for (let i = 0; i < rows; i += PANEL) {
    const n = min(PANEL, rows - i);
    gemm_nn(A + (<usize>(i * rows) << 2), v, out + (<usize>(i * dv) << 2), n, dv, i + n, rows, dv, dv, 1);
  }
  const den = ws.den;
  for (let i = 0; i < rows; i++) divideRow(out + (<usize>(i * dv) << 2), dv, load<f32>(den + (<usize>i << 2)));

  if (anyKey) {
    updateStatePacked(ws.S, ws.z, tmpS, colSum, grows ? <f64>carry(cPrev, cLast) : 1, Mp, dv, ws.S32, ws.z32);
    store<f64>(ws.run, <f64>cLast);
  }
}
