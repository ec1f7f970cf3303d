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
