// The FAVOR+ state of one head and the small vector helpers that maintain it.
// S (Mp × dv) and z (Mp) are float64; the key stabilizer c is a float64 at `run` (−∞ while empty).
// Mp is a multiple of 4 and pad rows of S and z stay zero.

/** exp(from − to) for stabilizers with from ≤ to; 0 when `from` is −∞ (nothing to carry over). */
@inline export function carry(from: f32, to: f32): f32 {
  if (from == -Infinity || to == -Infinity) return 0;
  return <f32>Math.exp(<f64>from - <f64>to);
}

/** Empties a state: S = 0, z = 0, c = −∞. */
export function state_clear(S: usize, z: usize, run: usize, Mp: i32, dv: i32): void {
  memory.fill(S, 0, <usize>(Mp * dv) << 3);
  memory.fill(z, 0, <usize>Mp << 3);
  store<f64>(run, -Infinity);
}

/** S *= factor, z *= factor. */
export function rescaleState(S: usize, z: usize, Mp: i32, dv: i32, factor: f64): void {
  const f = f64x2.splat(factor);
  const n = Mp * dv; // both counts are even
  for (let i = 0; i < n; i += 2) v128.store(S + (<usize>i << 3), f64x2.mul(v128.load(S + (<usize>i << 3)), f));
  for (let i = 0; i < Mp; i += 2) v128.store(z + (<usize>i << 3), f64x2.mul(v128.load(z + (<usize>i << 3)), f));
}

/** acc[i] += x[i] (acc f64, x f32), n even. */
export function addToF64(acc: usize, x: usize, n: i32): void {
  for (let i = 0; i < n; i += 2) {
    const xv = f64x2.promote_low_f32x4(v128.load64_zero(x + (<usize>i << 2)));
    const p = acc + (<usize>i << 3);
    v128.store(p, f64x2.add(v128.load(p), xv));
  }
}

/**
 * S += tmpS (this chunk's Φᵀ·V, f32 Mp × dv) and z += the column sums of phi (rows × Mp). Like Φᵀ·V,
 * the column sums are taken in float32 over the chunk (into colSum, Mp f32) and added once to float64.
 */
export function addChunkToState(S: usize, z: usize, tmpS: usize, phi: usize, rows: i32, Mp: i32, dv: i32, colSum: usize): void {
  addToF64(S, tmpS, Mp * dv);
  columnSums(phi, rows, Mp, colSum);
  addToF64(z, colSum, Mp);
}

/** colSum[f] = Σ_i phi[i][f] (phi rows × Mp, f32), each column summed over the rows in order. */
export function columnSums(phi: usize, rows: i32, Mp: i32, colSum: usize): void {
  // four groups of columns at a time, so that four chains of additions overlap instead of each waiting on its
  // own previous sum
  const rowBytes = <usize>Mp << 2;
  let f = 0;
  for (; f + 16 <= Mp; f += 16) {
    let p = phi + (<usize>f << 2);
    let a0 = v128.load(p), a1 = v128.load(p, 16), a2 = v128.load(p, 32), a3 = v128.load(p, 48);
    for (let i = 1; i < rows; i++) {
      p += rowBytes;
      a0 = f32x4.add(a0, v128.load(p));
      a1 = f32x4.add(a1, v128.load(p, 16));
      a2 = f32x4.add(a2, v128.load(p, 32));
      a3 = f32x4.add(a3, v128.load(p, 48));
    }
    const out = colSum + (<usize>f << 2);
    v128.store(out, a0); v128.store(out, a1, 16); v128.store(out, a2, 32); v128.store(out, a3, 48);
  }
  for (; f < Mp; f += 4) {
    let p = phi + (<usize>f << 2);
    let acc = v128.load(p);
    for (let i = 1; i < rows; i++) {
      p += rowBytes;
      acc = f32x4.add(acc, v128.load(p));
    }
    v128.store(colSum + (<usize>f << 2), acc);
  }
}

/** S32 = S, z32 = z (f64 → f32), for the f32 GEMMs of a read-out. */
export function state_to_f32(S: usize, z: usize, S32: usize, z32: usize, Mp: i32, dv: i32): void {
  toF32(S, S32, Mp * dv);
  toF32(z, z32, Mp);
}

function toF32(src: usize, dst: usize, n: i32): void {
  for (let i = 0; i < n; i += 2) {
    v128.store64_lane(dst + (<usize>i << 2), f32x4.demote_f64x2_zero(v128.load(src + (<usize>i << 3))), 0);
  }
}

/**
 * The f32 copy of a state that the causal read-out multiplies with: S32 = S packed for gemm_nn_packed (K = Mp,
 * N = dv, gemm_pack_b's layout) and z32 = z. After stateToPacked, updateStatePacked keeps it up to date.
 */
export function stateToPacked(S: usize, z: usize, S32: usize, z32: usize, Mp: i32, dv: i32): void {
  packState(S, z, 0, 0, 1, Mp, dv, S32, z32, false);
}

/**
 * S = S·factor + tmpS and z = z·factor + colSum (f64 += f32, each rounded as rescaleState then addToF64 would),
 * writing the packed f32 copy (stateToPacked) in the same pass.
 */
export function updateStatePacked(S: usize, z: usize, tmpS: usize, colSum: usize, factor: f64, Mp: i32, dv: i32, S32: usize, z32: usize): void {
  packState(S, z, tmpS, colSum, factor, Mp, dv, S32, z32, true);
}

@inline function packState(S: usize, z: usize, tmpS: usize, colSum: usize, factor: f64, Mp: i32, dv: i32, S32: usize, z32: usize,
                           update: bool): void {
  const N16 = dv & ~15;
  const w = dv - N16;
  const pstride = <usize>Mp << 6; // bytes per 16-column panel
  const edge = S32 + <usize>(N16 >> 4) * pstride;
  const fv = f64x2.splat(factor);
  for (let f = 0; f < Mp; f++) {
    const srow = S + (<usize>(f * dv) << 3);
    const trow = tmpS + (<usize>(f * dv) << 2);
    let out = S32 + (<usize>f << 6);
    for (let j = 0; j < N16; j += 16, out += pstride) {
      for (let t = 0; t < 16; t += 4) {
        const p = srow + (<usize>(j + t) << 3);
        let lo = v128.load(p), hi = v128.load(p, 16);
        if (update) {
          const x = v128.load(trow + (<usize>(j + t) << 2));
          lo = f64x2.add(f64x2.mul(lo, fv), f64x2.promote_low_f32x4(x));
          hi = f64x2.add(f64x2.mul(hi, fv), f64x2.promote_low_f32x4(v128.shuffle<f32>(x, x, 2, 3, 2, 3)));
          v128.store(p, lo);
          v128.store(p, hi, 16);
        }
        v128.store(out + (<usize>t << 2), v128.shuffle<f32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5));
      }
    }
    for (let t = N16; t < dv; t++) {
      const p = srow + (<usize>t << 3);
      let s = load<f64>(p);
      if (update) {
        s = s * factor + <f64>load<f32>(trow + (<usize>t << 2));
        store<f64>(p, s);
      }
      store<f32>(edge + (<usize>(f * w + t - N16) << 2), <f32>s);
    }
  }
  for (let f = 0; f < Mp; f += 2) {
    const p = z + (<usize>f << 3);
    let zv = v128.load(p);
    if (update) {
      zv = f64x2.add(f64x2.mul(zv, fv), f64x2.promote_low_f32x4(v128.load64_zero(colSum + (<usize>f << 2))));
      v128.store(p, zv);
    }
    v128.store64_lane(z32 + (<usize>f << 2), f32x4.demote_f64x2_zero(zv), 0);
  }
}

/** Smallest |denominator| used: below it the division uses ±DEN_FLOOR, so a query that sees nothing gets zeros. */
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

/**
 * Σ a[i]·b[i] over n (a multiple of 4) f32 values, in a fixed order: lanes of blocks of 8 alternate between
 * two accumulators (so that two chains of additions overlap), which are added before the lanes are.
 */
export function dot(a: usize, b: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let acc1 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const off = <usize>i << 2;
    acc = f32x4.add(acc, f32x4.mul(v128.load(a + off), v128.load(b + off)));
    acc1 = f32x4.add(acc1, f32x4.mul(v128.load(a + off, 16), v128.load(b + off, 16)));
  }
  if (i < n) {
    const off = <usize>i << 2;
    acc = f32x4.add(acc, f32x4.mul(v128.load(a + off), v128.load(b + off)));
  }
  acc = f32x4.add(acc, acc1);
  return f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 2) + (f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 3));
}

/** Zeroes the rows of phi (rows × Mp) whose mask byte is 0. */
export function zeroMaskedRows(phi: usize, mask: usize, rows: i32, Mp: i32): void {
  if (!mask) return;
  for (let i = 0; i < rows; i++) {
    if (!load<u8>(mask + i)) memory.fill(phi + (<usize>(i * Mp) << 2), 0, <usize>Mp << 2);
  }
}

/** Merges state b into state a: both move to the larger stabilizer, then a += b (f64). */
export function state_merge(Sa: usize, za: usize, runA: usize, Sb: usize, zb: usize, runB: usize, Mp: i32, dv: i32): void {
  const ca = load<f64>(runA);
  const cb = load<f64>(runB);
  if (cb == -Infinity) return;
  const c = max(ca, cb);
  const fa = ca == -Infinity ? 0.0 : Math.exp(ca - c);
  const fb = Math.exp(cb - c);
  const n = Mp * dv;
  for (let i = 0; i < n; i++) {
    const p = Sa + (<usize>i << 3);
    store<f64>(p, load<f64>(p) * fa + load<f64>(Sb + (<usize>i << 3)) * fb);
  }
  for (let i = 0; i < Mp; i++) {
    const p = za + (<usize>i << 3);
    store<f64>(p, load<f64>(p) * fa + load<f64>(zb + (<usize>i << 3)) * fb);
  }
  store<f64>(runA, c);
}
