// Feature maps φ of the paper, applied to one block of rows at a time (docs/design.md §1).
//
// Memory contract: rows are padded to a multiple of four lanes. u is rows × mp (mp = m rounded up
// to 4), the projected rows, with zeros in the pad columns; phi is rows × Mp with Mp = mp, or
// 2·mp for the two-block kernels (hyperbolic: [exp(+u) | exp(−u)], trig: [sin u | cos u]), and its
// pad lanes are written as zeros, so that they add nothing to S = Σ φ(k)vᵀ or z = Σ φ(k).
// h, top and c are f32 arrays of one value per row. Nothing is allocated.
import { EXP2_CONSTANTS, exp2negWith, exp4, LOG2E, sincos4 } from '../linalg/math';
import { hmax, madd } from '../linalg/simd';
import { normalizedRowStats } from './normalized';
import { FeatureMap } from '../descriptors';

export const POSITIVE = 0;
export const HYPERBOLIC = 1;
export const TRIG = 2;
export const RELU = 3;
export const ELU1 = 4;
export const EXP = 5;
export const ABS = 6;
export const GELU = 7;
/** The normalized hyperbolic map (normalized.ts): two blocks, each a softmax over the features. */
export const NORMALIZED = 8;

/** Features per row (without padding): 2m for the two-block kernels, m otherwise. */
@inline export function isTwoBlock(kind: i32): bool {
  return kind == HYPERBOLIC || kind == TRIG || kind == NORMALIZED;
}

/** Lanes r..r+3 that lie below m, as an all-ones mask per lane. */
@inline function lanesBelow(r: i32, m: i32): v128 {
  return i32x4.lt_s(i32x4.add(i32x4.splat(r), i32x4(0, 1, 2, 3)), i32x4.splat(m));
}

/** ‖x‖² of one row of d values (two accumulators: the loop is bound by the latency of its additions). */
@inline function squaredNorm(x: usize, d: i32): f32 {
  let acc = f32x4.splat(0);
  let acc1 = f32x4.splat(0);
  let t = 0;
  for (; t + 8 <= d; t += 8) {
    const x0 = v128.load(x + (<usize>t << 2));
    const x1 = v128.load(x + (<usize>t << 2), 16);
    acc = madd(x0, x0, acc);
    acc1 = madd(x1, x1, acc1);
  }
  for (; t + 4 <= d; t += 4) {
    const xv = v128.load(x + (<usize>t << 2));
    acc = madd(xv, xv, acc);
  }
  acc = f32x4.add(acc, acc1);
  let s = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 2) + (f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 3));
  for (; t < d; t++) {
    const xs = load<f32>(x + (<usize>t << 2));
    s += xs * xs;
  }
  return s;
}

/** y, with the lanes at or past m zeroed when r is the last, partial vector of a row (full = m & ~3). */
@inline function keepLanes(y: v128, r: i32, full: i32, m: i32): v128 {
  return r < full ? y : v128.and(y, lanesBelow(r, m));
}

/**
 * max_r u_r (or max_r |u_r|) over the m real lanes of a row. pmax: one instruction (no NaN handling needed);
 * four running maxima, so that the loop is not bound by the latency of one chain.
 */
@inline function rowMax(row: usize, m: i32, absolute: bool): f32 {
  let best = f32x4.splat(-Infinity);
  let b1 = best, b2 = best, b3 = best;
  const full = m & ~3;
  let r = 0;
  for (; r + 16 <= full; r += 16) {
    const p = row + (<usize>r << 2);
    const u0 = v128.load(p), u1 = v128.load(p, 16), u2 = v128.load(p, 32), u3 = v128.load(p, 48);
    best = f32x4.pmax(best, absolute ? f32x4.abs(u0) : u0);
    b1 = f32x4.pmax(b1, absolute ? f32x4.abs(u1) : u1);
    b2 = f32x4.pmax(b2, absolute ? f32x4.abs(u2) : u2);
    b3 = f32x4.pmax(b3, absolute ? f32x4.abs(u3) : u3);
  }
  best = f32x4.pmax(f32x4.pmax(best, b1), f32x4.pmax(b2, b3));
  for (; r < full; r += 4) {
    const uv = v128.load(row + (<usize>r << 2));
    best = f32x4.pmax(best, absolute ? f32x4.abs(uv) : uv);
  }
  if (full < m) {
    const uv = v128.load(row + (<usize>full << 2));
    best = f32x4.pmax(best, v128.bitselect(absolute ? f32x4.abs(uv) : uv, f32x4.splat(-Infinity), lanesBelow(full, m)));
  }
  return hmax(best);
}

/**
 * Per-row quantities of `rows` rows x (rows × fm.dim) and their projection u (rows × fm.mp), for the feature map fm:
 * h[i] = hScale·‖x_i‖² (= ‖x̂_i‖²/2 with hScale = 1/(2√d)) and
 * top[i] = the largest exponent in the row's features, the stabilizer that makes every exponent ≤ 0:
 * positive max_r u_r − h, hyperbolic max_r |u_r| − h, trig h, exp max(0, max_r u_r), others 0.
 * Normalized: u is shifted in place, h is the mean of the two log-sum-exps and top is 0 (normalized.ts).
 */
export function feature_row_stats(fm: FeatureMap, x: usize, u: usize, rows: i32, h: usize, top: usize): void {
  const kind = fm.kind, d = fm.dim, m = fm.m, mp = fm.mp, hScale = fm.hScale;
  if (kind == NORMALIZED) {
    normalizedRowStats(u, rows, m, mp, h, top);
    return;
  }
  const usesNorm = kind == POSITIVE || kind == HYPERBOLIC || kind == TRIG;
  for (let i = 0; i < rows; i++) {
    const hi: f32 = usesNorm ? hScale * squaredNorm(x + (<usize>(i * d) << 2), d) : 0;
    store<f32>(h + (<usize>i << 2), hi);
    let t: f32 = 0;
    if (kind == POSITIVE || kind == HYPERBOLIC || kind == EXP) {
      t = rowMax(u + (<usize>(i * mp) << 2), m, kind == HYPERBOLIC);
      t = kind == EXP ? max(t, 0) : t - hi;
    } else if (kind == TRIG) {
      t = hi;
    }
    store<f32>(top + (<usize>i << 2), t);
  }
}

/**
 * φ of `rows` projected rows u (rows × fm.mp; h and c one f32 per row) into phi (rows × fm.Mp) for the feature map
 * fm, with the stabilizer c[i] subtracted from every exponent of row i and the scale a (1/√m, 1/√(2m), or 1 without
 * projection):
 *   positive    a·exp(u_r − h − c)
 *   hyperbolic  a·exp(u_r − h − c) | a·exp(−u_r − h − c)   (also the normalized map, see normalized.ts)
 *   trig        a·exp(h − c)·sin u_r | a·exp(h − c)·cos u_r
 *   relu, elu1, abs, gelu   a·f(u_r) + eps          (gelu: tanh approximation)
 *   exp         a·exp(u_r − c) + eps·exp(−c)
 */
export function feature_map(fm: FeatureMap, u: usize, rows: i32, h: usize, c: usize, phi: usize): void {
  const kind = fm.kind, m = fm.m, mp = fm.mp, a = fm.a, eps = fm.eps;
  const Mp = isTwoBlock(kind) ? 2 * mp : mp;
  const log2a = Math.log2(<f64>a);
  for (let i = 0; i < rows; i++) {
    const urow = u + (<usize>(i * mp) << 2);
    const prow = phi + (<usize>(i * Mp) << 2);
    const hi = load<f32>(h + (<usize>i << 2));
    const ci = load<f32>(c + (<usize>i << 2));
    // exponents in log2 units: a·e^(u − h − c) = 2^(u·log2 e + shift), shift = log2 a − (h + c)·log2 e
    // (rounded once, from float64), all ≤ 0 since a ≤ 1
    const shift = f32x4.splat(<f32>(log2a - (<f64>hi + <f64>ci) * <f64>LOG2E));
    if (kind == POSITIVE) mapPositive(urow, prow, m, mp, shift);
    else if (kind == HYPERBOLIC || kind == NORMALIZED) mapHyperbolic(urow, prow, m, mp, shift);
    else if (kind == TRIG) mapTrig(urow, prow, m, mp, a * expScalar(hi - ci));
    else if (kind == EXP) mapExp(urow, prow, m, mp, ci, a, eps);
    else mapPointwise(kind, urow, prow, m, mp, a, eps);
  }
}

@inline function expScalar(x: f32): f32 {
  return f32x4.extract_lane(exp4(f32x4.splat(x)), 0);
}

function mapPositive(urow: usize, prow: usize, m: i32, mp: i32, shift: v128): void {
  const full = m & ~3;
  const k = EXP2_CONSTANTS; // loaded once: see exp2negWith
  const magic = v128.load(k), e6 = v128.load(k, 16), e5 = v128.load(k, 32), e4 = v128.load(k, 48), e3 = v128.load(k, 64);
  const e2 = v128.load(k, 80), e1 = v128.load(k, 96), bias = v128.load(k, 112), lowest = v128.load(k, 128);
  const log2e = v128.load(k, 144);
  for (let r = 0; r < mp; r += 4) {
    const off = <usize>r << 2;
    const x = madd(v128.load(urow + off), log2e, shift);
    const y = exp2negWith(x, magic, e6, e5, e4, e3, e2, e1, bias, lowest);
    v128.store(prow + off, keepLanes(y, r, full, m));
  }
}

function mapHyperbolic(urow: usize, prow: usize, m: i32, mp: i32, shift: v128): void {
  const full = m & ~3;
  const neg = prow + (<usize>mp << 2);
  const k = EXP2_CONSTANTS; // loaded once: see exp2negWith
  const magic = v128.load(k), e6 = v128.load(k, 16), e5 = v128.load(k, 32), e4 = v128.load(k, 48), e3 = v128.load(k, 64);
  const e2 = v128.load(k, 80), e1 = v128.load(k, 96), bias = v128.load(k, 112), lowest = v128.load(k, 128);
  const log2e = v128.load(k, 144);
  for (let r = 0; r < mp; r += 4) {
    const off = <usize>r << 2;
    const ul = f32x4.mul(v128.load(urow + off), log2e);
    const plus = exp2negWith(f32x4.add(shift, ul), magic, e6, e5, e4, e3, e2, e1, bias, lowest);
    const minus = exp2negWith(f32x4.sub(shift, ul), magic, e6, e5, e4, e3, e2, e1, bias, lowest);
    v128.store(prow + off, keepLanes(plus, r, full, m));
    v128.store(neg + off, keepLanes(minus, r, full, m));
  }
}

function mapTrig(urow: usize, prow: usize, m: i32, mp: i32, scale: f32): void {
  const full = m & ~3;
  const cosRow = prow + (<usize>mp << 2);
  const a = f32x4.splat(scale);
  for (let r = 0; r < mp; r += 4) {
    const off = <usize>r << 2;
    sincos4(v128.load(urow + off), a, prow + off, cosRow + off);
    if (r >= full) {
      const keep = lanesBelow(r, m);
      v128.store(prow + off, v128.and(v128.load(prow + off), keep));
      v128.store(cosRow + off, v128.and(v128.load(cosRow + off), keep));
    }
  }
}

function mapExp(urow: usize, prow: usize, m: i32, mp: i32, c: f32, a: f32, eps: f32): void {
  const full = m & ~3;
  const shift = f32x4.splat(-c);
  const scale = f32x4.splat(a);
  const floor = f32x4.splat(eps * expScalar(-c));
  for (let r = 0; r < mp; r += 4) {
    const off = <usize>r << 2;
    const y = madd(exp4(f32x4.add(v128.load(urow + off), shift)), scale, floor);
    v128.store(prow + off, keepLanes(y, r, full, m));
  }
}

// gelu(x) ≈ x·σ(2√(2/π)(x + 0.044715x³)) = ½x(1 + tanh(√(2/π)(x + 0.044715x³))) (Hendrycks & Gimpel 2016)
const GELU_K: f32 = 1.5957691216057308; // 2√(2/π)
const GELU_C: f32 = 0.044715;

@inline function pointwise(kind: i32, x: v128): v128 {
  if (kind == RELU) return f32x4.max(x, f32x4.splat(0));
  if (kind == ABS) return f32x4.abs(x);
  if (kind == ELU1) {
    // elu(x) + 1: x + 1 for x > 0, e^x otherwise (e^min(x,0) avoids overflow in the unused lane)
    const e = exp4(f32x4.min(x, f32x4.splat(0)));
    return v128.bitselect(f32x4.add(x, f32x4.splat(1)), e, f32x4.gt(x, f32x4.splat(0)));
  }
  // GELU: x / (1 + e^(−t)), t = K(x + C x³); e^(−t) = +Inf for very negative x gives x/Inf = −0
  const x3 = f32x4.mul(f32x4.mul(x, x), x);
  const t = f32x4.mul(madd(x3, f32x4.splat(GELU_C), x), f32x4.splat(GELU_K));
  return f32x4.div(x, f32x4.add(exp4(f32x4.neg(t)), f32x4.splat(1)));
}

function mapPointwise(kind: i32, urow: usize, prow: usize, m: i32, mp: i32, a: f32, eps: f32): void {
  const full = m & ~3;
  const scale = f32x4.splat(a);
  const floor = f32x4.splat(eps);
  for (let r = 0; r < mp; r += 4) {
    const off = <usize>r << 2;
    const y = madd(pointwise(kind, v128.load(urow + off)), scale, floor);
    v128.store(prow + off, keepLanes(y, r, full, m));
  }
}
