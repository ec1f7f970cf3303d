// Vector exp on f32x4.
//
// Method and constants from Cephes expf (S. L. Moshier, cephes/single/expf.c):
//   n = round(x·log2 e),  r = x − n·ln2 (Cody–Waite: ln2 = C1 + C2, C1 exact in 9 bits),
//   exp(r) ≈ 1 + r + r²·P(r) with the degree-5 minimax P of Cephes on |r| ≤ ln2/2,
//   exp(x) = exp(r)·2ⁿ, with 2ⁿ built from its exponent bits by an integer shift.
// Max relative error measured against float64 (test/math.test.ts): ≤ 2e-7 on [−87, 88].
// Out of range: x > 88.72 gives +Infinity; x < −87.33 gives 0 (results that would be subnormal,
// |e^x| < 1.2e-38, are flushed to zero); NaN gives NaN.
import { madd } from './simd';

const LOG2E: f32 = 1.44269504088896341;
const C1: f32 = 0.693359375;
const C2: f32 = -2.12194440e-4;
const P0: f32 = 1.9875691500e-4;
const P1: f32 = 1.3981999507e-3;
const P2: f32 = 8.3334519073e-3;
const P3: f32 = 4.1665795894e-2;
const P4: f32 = 1.6666665459e-1;
const P5: f32 = 5.0000001201e-1;
const MAX_ARG: f32 = 88.72283905206835; // ln(FLT_MAX)
const MIN_ARG: f32 = -87.33654475055310; // ln(FLT_MIN), the smallest normal

/** e^x for each lane. */
@inline export function exp4(x: v128): v128 {
  const xc = f32x4.min(f32x4.max(x, f32x4.splat(MIN_ARG)), f32x4.splat(MAX_ARG));
  const n = f32x4.nearest(f32x4.mul(xc, f32x4.splat(LOG2E)));
  // r = x − n·C1 − n·C2 (n·C1 is exact: n has ≤ 8 bits, C1 has 9)
  let r = f32x4.sub(xc, f32x4.mul(n, f32x4.splat(C1)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(C2)));
  let p = madd(f32x4.splat(P0), r, f32x4.splat(P1));
  p = madd(p, r, f32x4.splat(P2));
  p = madd(p, r, f32x4.splat(P3));
  p = madd(p, r, f32x4.splat(P4));
  p = madd(p, r, f32x4.splat(P5));
  const r2 = f32x4.mul(r, r);
  const er = f32x4.add(madd(p, r2, r), f32x4.splat(1));
  // 2ⁿ as two factors 2^(n>>1)·2^(n−(n>>1)), so that n = 128 (x near MAX_ARG) and n = −126 both stay normal.
  const ni = i32x4.trunc_sat_f32x4_s(n);
  const half = i32x4.shr_s(ni, 1);
  const bias = i32x4.splat(127);
  const s1 = i32x4.shl(i32x4.add(half, bias), 23);
  const s2 = i32x4.shl(i32x4.add(i32x4.sub(ni, half), bias), 23);
  let y = f32x4.mul(f32x4.mul(er, s1), s2);
  // lanes past the range: +Inf above, 0 below; NaN lanes pass through unchanged (x ≠ x)
  y = v128.bitselect(f32x4.splat(Infinity), y, f32x4.gt(x, f32x4.splat(MAX_ARG)));
  y = v128.bitselect(f32x4.splat(0), y, f32x4.lt(x, f32x4.splat(MIN_ARG)));
  return v128.bitselect(x, y, f32x4.ne(x, x));
}

/** e^x of one value, by the same method (used for tails shorter than four lanes). */
@inline export function exp1(x: f32): f32 {
  return f32x4.extract_lane(exp4(f32x4.splat(x)), 0);
}

/** dst[i] = e^src[i] for i < n. src and dst: f32 arrays in wasm memory (may alias), any alignment. */
export function vexp(src: usize, dst: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(dst + off, exp4(v128.load(src + off)));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(dst + off, exp1(load<f32>(src + off)));
  }
}

// Vector sin and cos on f32x4, after Cephes sinf/cosf (S. L. Moshier, cephes/single/sinf.c):
// j = the even integer nearest x·4/π, r = x − j·π/4 by a three-part Cody–Waite split of π/4 (DP1+DP2+DP3),
// then the Cephes minimax polynomials for sin and cos on |r| ≤ π/4, chosen and signed by the octant j.
// Accurate to a few ulp of the reduced argument for |x| ≤ 8192; beyond that the reduction loses bits
// (random-feature arguments ωᵀx̂ stay far below that for any input whose kernel value is representable).
const FOPI: f32 = 1.27323954473516; // 4/π
const DP1: f32 = 0.78515625;
const DP2: f32 = 2.4187564849853515625e-4;
const DP3: f32 = 3.77489497744594108e-8;
const S0: f32 = -1.9515295891e-4;
const S1: f32 = 8.3321608736e-3;
const S2: f32 = -1.6666654611e-1;
const K0: f32 = 2.443315711809948e-5;
const K1: f32 = -1.388731625493765e-3;
const K2: f32 = 4.166664568298827e-2;

/** Stores a·sin(x) at sinPtr and a·cos(x) at cosPtr (four lanes each). */
@inline export function sincos4(x: v128, a: v128, sinPtr: usize, cosPtr: usize): void {
  const ax = f32x4.abs(x);
  // octant index, rounded up to even: j ∈ {0, 2, 4, 6, …}
  let j = i32x4.trunc_sat_f32x4_s(f32x4.mul(ax, f32x4.splat(FOPI)));
  j = v128.and(i32x4.add(j, i32x4.splat(1)), i32x4.splat(~1));
  const y = f32x4.convert_i32x4_s(j);
  let r = f32x4.sub(ax, f32x4.mul(y, f32x4.splat(DP1)));
  r = f32x4.sub(r, f32x4.mul(y, f32x4.splat(DP2)));
  r = f32x4.sub(r, f32x4.mul(y, f32x4.splat(DP3)));
  const z = f32x4.mul(r, r);
  // sin(r) ≈ r + r·z·(S2 + z·(S1 + z·S0)); cos(r) ≈ 1 − z/2 + z²·(K2 + z·(K1 + z·K0))
  const ps = madd(madd(madd(f32x4.splat(S0), z, f32x4.splat(S1)), z, f32x4.splat(S2)), f32x4.mul(z, r), r);
  const pc0 = madd(madd(f32x4.splat(K0), z, f32x4.splat(K1)), z, f32x4.splat(K2));
  const pc = f32x4.add(f32x4.sub(f32x4.mul(f32x4.mul(pc0, z), z), f32x4.mul(z, f32x4.splat(0.5))), f32x4.splat(1));
  // octants 2 and 6 swap the polynomials
  const swap = i32x4.eq(v128.and(j, i32x4.splat(2)), i32x4.splat(2));
  const sinR = v128.bitselect(pc, ps, swap);
  const cosR = v128.bitselect(ps, pc, swap);
  // signs: sin flips for octants 4, 6 and for x < 0; cos flips for octants 2, 4
  const sinFlip = v128.xor(i32x4.shl(v128.and(j, i32x4.splat(4)), 29), v128.and(x, i32x4.splat(0x80000000)));
  const cosFlip = i32x4.shl(v128.and(i32x4.add(j, i32x4.splat(2)), i32x4.splat(4)), 29);
  v128.store(sinPtr, f32x4.mul(v128.xor(sinR, sinFlip), a));
  v128.store(cosPtr, f32x4.mul(v128.xor(cosR, cosFlip), a));
}

/** sinDst[i] = sin(src[i]), cosDst[i] = cos(src[i]) for i < n. n must be a multiple of 4 (test helper). */
export function vsincos(src: usize, sinDst: usize, cosDst: usize, n: i32): void {
  const one = f32x4.splat(1);
  for (let i = 0; i < n; i += 4) {
    const off = <usize>i << 2;
    sincos4(v128.load(src + off), one, sinDst + off, cosDst + off);
  }
}
