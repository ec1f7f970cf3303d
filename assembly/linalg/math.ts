// Vector exp on f32x4.
//
// Method and constants from Cephes expf (S. L. Moshier, cephes/single/expf.c):
//   n = round(x·log2 e),  r = x − n·ln2 (Cody–Waite: ln2 = C1 + C2, C1 exact in 9 bits),
//   exp(r) ≈ 1 + r + r²·P(r) with the degree-5 minimax P of Cephes on |r| ≤ ln2/2,
//   exp(x) = exp(r)·2ⁿ, with 2ⁿ built from its exponent bits by an integer shift.
// Max relative error measured against float64 (test/linalg/math.test.ts): ≤ 2e-7 on [−87, 88].
// Out of range: x > 88.72 gives +Infinity; x < −87.33 gives 0 (results that would be subnormal,
// |e^x| < 1.2e-38, are flushed to zero); NaN gives NaN.
import { madd } from './simd';

export const LOG2E: f32 = 1.44269504088896341;
const MAGIC: f32 = 12582912.0; // 1.5·2²³: adding it rounds to an integer held in the low mantissa bits
const MAGIC_BITS: i32 = 0x4b400000;
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
  // pmin/pmax (one instruction each on x64; NaN lanes pass through them) instead of min/max
  const xc = f32x4.pmin(f32x4.pmax(x, f32x4.splat(MIN_ARG)), f32x4.splat(MAX_ARG));
  // n = round(x·log2 e) by the 1.5·2²³ trick: adding it rounds to an integer held in the low mantissa bits
  const j = madd(xc, f32x4.splat(LOG2E), f32x4.splat(MAGIC));
  const n = f32x4.sub(j, f32x4.splat(MAGIC));
  const ni = i32x4.sub(j, f32x4.splat(MAGIC));
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
  const half = i32x4.shr_s(ni, 1);
  const bias = i32x4.splat(127);
  const s1 = i32x4.shl(i32x4.add(half, bias), 23);
  const s2 = i32x4.shl(i32x4.add(i32x4.sub(ni, half), bias), 23);
  const y = f32x4.mul(f32x4.mul(er, s1), s2);
  // lanes past the range: +Inf above, 0 below (NaN lanes compare false and stay NaN)
  const above = f32x4.gt(x, f32x4.splat(MAX_ARG));
  const outside = v128.or(above, f32x4.lt(x, f32x4.splat(MIN_ARG)));
  return v128.or(v128.andnot(y, outside), v128.and(above, f32x4.splat(Infinity)));
}

// 2^x for x ≤ 0 (the softmax scores of exact.ts, kept in log2 units, and the stabilized exponents of
// features.ts, which are ≤ 0 by construction). Results of x > 0 are unspecified.
// n = round(x) by the 1.5·2^23 trick, r = x − n ∈ [−½, ½] exactly, 2^r ≈ 1 + r·P(r) with P of degree 5
// fitted here for minimal relative error with p(0) = 1 (Lawson's iteration in float64; the coefficients
// agree with SLEEF's xexp2f to 3 digits), and 2ⁿ from exponent bits. Max relative error 9.7e-8 in float32
// evaluation on [−½, ½]. Lanes below −125 (−∞ included, and NaN) give exactly 0, so masked scores vanish;
// no clamping or NaN-propagating min/max is needed (V8 spends ~8 instructions on each f32x4.min/max),
// which made the softmax pass of exact attention ~3× cheaper than with exp4.
const E1: f32 = 6.9314718246e-01;
const E2: f32 = 2.4022647738e-01;
const E3: f32 = 5.5503323674e-02;
const E4: f32 = 9.6184369177e-03;
const E5: f32 = 1.3398875017e-03;
const E6: f32 = 1.5353361960e-04;
const EXP2_MIN: f32 = -125.0;

@inline export function exp2neg4(x: v128): v128 {
  return exp2negWith(x, f32x4.splat(MAGIC), f32x4.splat(E6), f32x4.splat(E5), f32x4.splat(E4), f32x4.splat(E3),
                     f32x4.splat(E2), f32x4.splat(E1), i32x4.splat(127 - MAGIC_BITS), f32x4.splat(EXP2_MIN));
}

/**
 * exp2neg4 with its constants passed in. V8 does not hoist v128.const out of a loop: it rebuilds each
 * constant on every iteration. Hot loops load them once from EXP2_CONSTANTS (static memory, which the
 * optimizer cannot fold back into constants) and call this.
 */
@inline export function exp2negWith(x: v128, magic: v128, e6: v128, e5: v128, e4: v128, e3: v128, e2: v128, e1: v128,
                                    bias: v128, lowest: v128): v128 {
  const t = f32x4.add(x, magic);
  const r = f32x4.sub(x, f32x4.sub(t, magic));
  let p = madd(e6, r, e5);
  p = madd(p, r, e4);
  p = madd(p, r, e3);
  p = madd(p, r, e2);
  p = madd(p, r, e1);
  const s = i32x4.shl(i32x4.add(t, bias), 23);
  // 2^x = s·(1 + r·p) = (r·p)·s + s: s is a power of two, so this rounds as 1 + r·p would, without a
  // register for the constant 1 (the hot loops keep every other constant in registers: see below)
  return v128.and(madd(f32x4.mul(p, r), s, s), f32x4.ge(x, lowest));
}

/** The constants of exp2negWith, four lanes each, in its argument order (then log2 e, for e^x = 2^(x·log2 e)). */
export const EXP2_CONSTANTS: usize = memory.data<f32>([
  MAGIC, MAGIC, MAGIC, MAGIC, E6, E6, E6, E6, E5, E5, E5, E5, E4, E4, E4, E4, E3, E3, E3, E3, E2, E2, E2, E2, E1, E1, E1, E1,
  reinterpret<f32>(127 - MAGIC_BITS), reinterpret<f32>(127 - MAGIC_BITS), reinterpret<f32>(127 - MAGIC_BITS),
  reinterpret<f32>(127 - MAGIC_BITS), EXP2_MIN, EXP2_MIN, EXP2_MIN, EXP2_MIN, LOG2E, LOG2E, LOG2E, LOG2E,
]);

@inline function expOf(x: v128, base2: bool): v128 {
  return base2 ? exp2neg4(x) : exp4(x);
}

/**
 * dst[i] = e^src[i] (exp4), or with base2 2^src[i] for src[i] ≤ 0 (exp2neg4: 0 below −125), for i < n. src and
 * dst: f32 arrays in wasm memory (may alias), any alignment. For the tests of both functions.
 */
export function vexp(src: usize, dst: usize, n: i32, base2: bool): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(dst + off, expOf(v128.load(src + off), base2));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(dst + off, f32x4.extract_lane(expOf(f32x4.splat(load<f32>(src + off)), base2), 0));
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
