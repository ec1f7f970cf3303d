// Bidirectional FAVOR+ (docs/design.md §1, §3): keys and values are streamed chunk by chunk into the
// state S = Σ_j φ(k_j)v_jᵀ (Mp × dv) and z = Σ_j φ(k_j) (Mp), kept in float64 with the running key
// stabilizer c (f64 at `run`); then query chunks are read out as out_i = φ(q_i)ᵀS / φ(q_i)ᵀz.
//
// Memory contract (all f32 unless said): wt is Wᵀ (d × mp, pad columns zero), already scaled by
// d^(-1/4) for the softmax kernels, immediately followed by the same matrix packed by gemm_pack_b (the
// projection GEMM reads that copy) and by the projection descriptor (assembly/projection/structured.ts:
// dense or structured); 0 means "no projection" (u is x itself, padded). u, phi, h, top,
// c, tmpS, colSum are the caller's scratch of sizes rows·mp, rows·Mp, rows, rows, rows, Mp·dv, Mp. S and z are
// f64. mask is 0 or one byte per row (nonzero = keep). The one-block kernels (Mp = mp) write φ over u, which
// is not read after φ (a smaller working set in cache), and leave phi unused.
import { feature_map, feature_row_stats } from '../feature-maps/features';
import { gemm_nn, gemm_nn_packed, gemm_tn } from '../linalg/gemm';
import { addChunkToState, divideRow, dot, rescaleState, zeroMaskedRows } from './state';
import { FeatureMap, Workspace } from '../descriptors';
import { PROJECTION_STRUCTURED, project_structured, projectionDescriptor } from '../projection/structured';

/**
 * u = X·Wᵀ for a block of rows: by the structured transform when the projection region's descriptor says
 * so (assembly/projection/structured.ts), else from the packed Wᵀ after wt; without projection, u = X
 * padded to mp columns.
 */
export function project_rows(fm: FeatureMap, x: usize, rows: i32, u: usize): void {
  const d = fm.dim, wt = fm.wt, mp = fm.mp;
  if (wt) {
    const desc = projectionDescriptor(wt, d, mp);
    if (load<i32>(desc) == PROJECTION_STRUCTURED) {
      project_structured(x, rows, d, desc, mp, u);
      return;
    }
    gemm_nn_packed(x, wt + (<usize>(d * mp) << 2), u, rows, mp, d, d, mp, 0);
    return;
  }
  for (let i = 0; i < rows; i++) {
    memory.copy(u + (<usize>(i * mp) << 2), x + (<usize>(i * d) << 2), <usize>d << 2);
    memory.fill(u + (<usize>(i * mp + d) << 2), 0, <usize>(mp - d) << 2);
  }
}

/** Query features: projection, row statistics, and φ with each row stabilized by its own largest exponent (top). */
export function queryFeatures(fm: FeatureMap, x: usize, rows: i32, u: usize, h: usize, top: usize, phi: usize): void {
  project_rows(fm, x, rows, u);
  feature_row_stats(fm, x, u, rows, h, top);
  feature_map(fm, u, rows, h, top, phi);
}

/** Key features at given stabilizers: projection, row statistics (h, top), φ with row i at c[i]; masked rows zero. */
export function keyFeatures(fm: FeatureMap, k: usize, rows: i32, mask: usize, u: usize, h: usize, top: usize, c: usize, phi: usize): void {
  project_rows(fm, k, rows, u);
  feature_row_stats(fm, k, u, rows, h, top);
  feature_map(fm, u, rows, h, c, phi);
  zeroMaskedRows(phi, mask, rows, fm.Mp);
}

/**
 * Adds one chunk of keys (rows × d at k) and values (rows × dv at v) to the lane's state (ws.S, ws.z, ws.run). The key
 * stabilizer only grows: when this chunk's largest exponent passes it, S and z are first rescaled by
 * exp(c_old − c_new) (docs/design.md §1a). Masked rows are left out of the stabilizer, of S and of z.
 */
export function accumulateChunk(fm: FeatureMap, ws: Workspace, k: usize, v: usize, mask: usize, rows: i32, dv: i32): void {
  const mp = fm.mp;
  const Mp = fm.Mp;
  const u = ws.u;
  const h = ws.h;
  const top = ws.top;
  const c = ws.c;
  const S = ws.S;
  const z = ws.z;
  const run = ws.run;
  project_rows(fm, k, rows, u);
  feature_row_stats(fm, k, u, rows, h, top);
  let chunkMax: f32 = -Infinity;
  for (let i = 0; i < rows; i++) {
    if (mask && !load<u8>(mask + i)) continue;
    chunkMax = max(chunkMax, load<f32>(top + (<usize>i << 2)));
  }
  if (chunkMax == -Infinity) return; // every row masked
  const cOld = load<f64>(run);
  if (<f64>chunkMax > cOld) {
    rescaleState(S, z, Mp, dv, Math.exp(cOld - <f64>chunkMax)); // 0 for the first chunk (cOld = −∞)
    store<f64>(run, <f64>chunkMax);
  }
  const cNow = <f32>load<f64>(run);
  for (let i = 0; i < rows; i++) store<f32>(c + (<usize>i << 2), cNow);
  const phi = Mp == mp ? u : ws.phi; // the one-block maps write φ over u
  feature_map(fm, u, rows, h, c, phi);
  zeroMaskedRows(phi, mask, rows, Mp);
  gemm_tn(phi, v, ws.tmpS, Mp, dv, rows, Mp, dv, dv, 0);
  addChunkToState(S, z, ws.tmpS, phi, rows, Mp, dv, ws.colSum);
}

/**
 * Read-out for a chunk of queries: out_i = φ(q_i)ᵀS / φ(q_i)ᵀz, each query stabilized by its own
 * largest exponent (a constant per query cancels). The denominator is kept at least DEN_FLOOR in
 * magnitude, so a query that sees nothing (den = 0, then also num = 0) gets zeros.
 */
export function readoutChunk(fm: FeatureMap, ws: Workspace, q: usize, out: usize, rows: i32, dv: i32): void {
  const Mp = fm.Mp;
  const phi = Mp == fm.mp ? ws.u : ws.phi;
  queryFeatures(fm, q, rows, ws.u, ws.h, ws.top, phi);
  const S32 = ws.S32;
  const z32 = ws.z32;
  gemm_nn(phi, S32, out, rows, dv, Mp, Mp, dv, dv, 0);
  for (let i = 0; i < rows; i++) {
    const den = dot(phi + (<usize>(i * Mp) << 2), z32, Mp);
    divideRow(out + (<usize>(i * dv) << 2), dv, den);
  }
}
