// Bidirectional FAVOR+ (design notes §1, §3): keys and values are streamed chunk by chunk into the
// state S = Σ_j φ(k_j)v_jᵀ (Mp × dv) and z = Σ_j φ(k_j) (Mp), kept in float64 with the running key
// stabilizer c (f64 at `run`); then query chunks are read out as out_i = φ(q_i)ᵀS / φ(q_i)ᵀz.
//
// Memory contract (all f32 unless said): wt is Wᵀ (d × mp, pad columns zero), already scaled by
// d^(-1/4) for the softmax kernels; 0 means "no projection" (u is x itself, padded). u, phi, h, top,
// c, tmpS are the caller's scratch of sizes rows·mp, rows·Mp, rows, rows, rows, Mp·dv. S and z are
// f64. mask is 0 or one byte per row (nonzero = keep).
import { feature_map, feature_row_stats, isTwoBlock } from './features';
import { gemm_nn, gemm_tn } from './gemm';

/** u = X·Wᵀ for a block of rows; without projection, u = X padded to mp columns. */
export function project_rows(x: usize, rows: i32, d: i32, wt: usize, mp: i32, u: usize): void {
  if (wt) {
    gemm_nn(x, wt, u, rows, mp, d, d, mp, mp, 0);
    return;
  }
  for (let i = 0; i < rows; i++) {
    memory.copy(u + (<usize>(i * mp) << 2), x + (<usize>(i * d) << 2), <usize>d << 2);
    memory.fill(u + (<usize>(i * mp + d) << 2), 0, <usize>(mp - d) << 2);
  }
}

/** Projection, row statistics and the feature map with per-row stabilizers c. Returns nothing; fills u, h, top, phi. */
function rowFeatures(kind: i32, x: usize, rows: i32, d: i32, wt: usize, m: i32, mp: i32, hScale: f32, a: f32, eps: f32,
                     u: usize, h: usize, top: usize, c: usize, phi: usize, cFromTop: bool): void {
  project_rows(x, rows, d, wt, mp, u);
  feature_row_stats(kind, x, u, rows, d, m, mp, hScale, h, top);
  if (cFromTop) memory.copy(c, top, <usize>rows << 2);
  feature_map(kind, u, rows, m, mp, h, c, a, eps, phi);
}

/**
 * Adds one chunk of keys (rows × d) and values (rows × dv) to the state. The key stabilizer only
 * grows: when this chunk's largest exponent passes it, S and z are first rescaled by exp(c_old − c_new).
 * Masked rows are left out of the stabilizer, of S and of z.
 */
export function favor_accumulate(kind: i32, k: usize, v: usize, rows: i32, d: i32, dv: i32, wt: usize, m: i32, mp: i32,
                                 hScale: f32, a: f32, eps: f32, mask: usize,
                                 u: usize, phi: usize, h: usize, top: usize, c: usize, tmpS: usize,
                                 S: usize, z: usize, run: usize): void {
  const Mp = isTwoBlock(kind) ? 2 * mp : mp;
  project_rows(k, rows, d, wt, mp, u);
  feature_row_stats(kind, k, u, rows, d, m, mp, hScale, h, top);
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
  feature_map(kind, u, rows, m, mp, h, c, a, eps, phi);
  if (mask) {
    for (let i = 0; i < rows; i++) {
      if (!load<u8>(mask + i)) memory.fill(phi + (<usize>(i * Mp) << 2), 0, <usize>Mp << 2);
    }
  }
  gemm_tn(phi, v, tmpS, Mp, dv, rows, Mp, dv, dv, 0);
  addToF64(S, tmpS, Mp * dv);
  for (let i = 0; i < rows; i++) addToF64(z, phi + (<usize>(i * Mp) << 2), Mp);
}

function rescaleState(S: usize, z: usize, Mp: i32, dv: i32, factor: f64): void {
  const f = f64x2.splat(factor);
  const n = Mp * dv; // Mp is a multiple of 4, so both counts are even
  for (let i = 0; i < n; i += 2) v128.store(S + (<usize>i << 3), f64x2.mul(v128.load(S + (<usize>i << 3)), f));
  for (let i = 0; i < Mp; i += 2) v128.store(z + (<usize>i << 3), f64x2.mul(v128.load(z + (<usize>i << 3)), f));
}

/** acc[i] += x[i] (acc f64, x f32), n even. */
function addToF64(acc: usize, x: usize, n: i32): void {
  for (let i = 0; i < n; i += 2) {
    const xv = f64x2.promote_low_f32x4(v128.load64_zero(x + (<usize>i << 2)));
    const p = acc + (<usize>i << 3);
    v128.store(p, f64x2.add(v128.load(p), xv));
  }
}

/** S32 = S, z32 = z (f64 → f32), before the read-out. */
export function favor_state_to_f32(S: usize, z: usize, S32: usize, z32: usize, Mp: i32, dv: i32): void {
  toF32(S, S32, Mp * dv);
  toF32(z, z32, Mp);
}

function toF32(src: usize, dst: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(dst + (<usize>i << 2), <f32>load<f64>(src + (<usize>i << 3)));
}

/**
 * Read-out for a chunk of queries: out_i = φ(q_i)ᵀS / φ(q_i)ᵀz, each query stabilized by its own
 * largest exponent (a constant per query cancels). The denominator is kept at least DEN_FLOOR in
 * magnitude, so a query that sees nothing (den = 0, then also num = 0) gets zeros.
 */
export function favor_readout(kind: i32, q: usize, rows: i32, d: i32, dv: i32, wt: usize, m: i32, mp: i32,
                              hScale: f32, a: f32, eps: f32,
                              u: usize, phi: usize, h: usize, top: usize, c: usize,
                              S32: usize, z32: usize, out: usize): void {
  const Mp = isTwoBlock(kind) ? 2 * mp : mp;
  rowFeatures(kind, q, rows, d, wt, m, mp, hScale, a, eps, u, h, top, c, phi, true);
  gemm_nn(phi, S32, out, rows, dv, Mp, Mp, dv, dv, 0);
  for (let i = 0; i < rows; i++) {
    const den = dot(phi + (<usize>(i * Mp) << 2), z32, Mp);
    divideRow(out + (<usize>(i * dv) << 2), dv, den);
  }
}

/** Smallest |denominator| used: below it the division uses ±DEN_FLOOR (keeps outputs finite). */
const DEN_FLOOR: f32 = 1e-30;

/** row[t] /= den (guarded); the result is clamped to ±FLT_MAX so that it is always finite. */
export function divideRow(row: usize, n: i32, den: f32): void {
  const safe = abs(den) >= DEN_FLOOR ? den : (den < 0 ? -DEN_FLOOR : DEN_FLOOR);
  const divisor = f32x4.splat(safe);
  const big = f32x4.splat(f32.MAX_VALUE);
  let t = 0;
  for (; t + 4 <= n; t += 4) {
    const p = row + (<usize>t << 2);
    v128.store(p, f32x4.min(f32x4.max(f32x4.div(v128.load(p), divisor), f32x4.neg(big)), big));
  }
  for (; t < n; t++) {
    const p = row + (<usize>t << 2);
    store<f32>(p, min(max(load<f32>(p) / safe, -f32.MAX_VALUE), f32.MAX_VALUE));
  }
}

/** Σ a[i]·b[i] over n (a multiple of 4) f32 values, in a fixed order. */
export function dot(a: usize, b: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  for (let i = 0; i < n; i += 4) {
    const off = <usize>i << 2;
    acc = f32x4.add(acc, f32x4.mul(v128.load(a + off), v128.load(b + off)));
  }
  return f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 2) + (f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 3));
}
