// The normalized hyperbolic feature map ('softmax-hyperbolic-normalized', docs/learned-feature-maps.md):
//   φ(x) = a·[softmax_r(u), softmax_r(−u)],  u = W·x̂,  a = 1/√(2m),
// i.e. the hyperbolic map a·exp(±u_r − h) with h = ‖x̂‖²/2 replaced by each half's log-sum-exp
// L₊ = log Σ_r exp(u_r), L₋ = log Σ_r exp(−u_r). A learned kernel, not an unbiased estimator of exp(q̂·k̂).
//
// It reuses the hyperbolic code path: with s = (L₊ − L₋)/2 and t = (L₊ + L₋)/2,
//   u_r − L₊ = (u_r − s) − t  and  −u_r − L₋ = −(u_r − s) − t,
// so shifting u by s in place and setting h = t makes a·exp(±u − h − c) the normalized map. Every
// exponent is then ≤ 0 by construction: the row stabilizer (top) is 0, and the key running maximum of
// the callers stays 0 (or −∞ before the first kept key).
import { EXP2_CONSTANTS, exp2negWith } from '../linalg/math';
import { hmax, hsum } from '../linalg/simd';

/** Lanes r..r+3 that lie below m, as an all-ones mask per lane. */
@inline function lanesBelow(r: i32, m: i32): v128 {
  return i32x4.lt_s(i32x4.add(i32x4.splat(r), i32x4(0, 1, 2, 3)), i32x4.splat(m));
}

/**
 * Row statistics of the normalized map for a block of rows (u: rows × mp, pad lanes ignored): shifts each
 * row of u by s in place, writes h = t and top = 0 (see above). Log-sum-exps as max + log Σ exp(· − max).
 */
export function normalizedRowStats(u: usize, rows: i32, m: i32, mp: i32, h: usize, top: usize): void {
  const k = EXP2_CONSTANTS; // loaded once: see exp2negWith
  const magic = v128.load(k), e6 = v128.load(k, 16), e5 = v128.load(k, 32), e4 = v128.load(k, 48), e3 = v128.load(k, 64);
  const e2 = v128.load(k, 80), e1 = v128.load(k, 96), bias = v128.load(k, 112), lowest = v128.load(k, 128);
  const log2e = v128.load(k, 144);
  for (let i = 0; i < rows; i++) {
    const row = u + (<usize>(i * mp) << 2);
    let hi = f32x4.splat(-Infinity);
    let lo = f32x4.splat(Infinity);
    for (let r = 0; r < m; r += 4) {
      const uv = v128.load(row + (<usize>r << 2));
      const keep = lanesBelow(r, m);
      hi = f32x4.pmax(hi, v128.bitselect(uv, f32x4.splat(-Infinity), keep));
      lo = f32x4.pmin(lo, v128.bitselect(uv, f32x4.splat(Infinity), keep));
    }
    const maxPlus = hmax(hi);
    const maxMinus = hmax(f32x4.neg(lo)); // max_r (−u_r)
    // Σ exp(±u − max±) as 2^((±u − max±)·log2 e): exponents ≤ 0 exactly (pad lanes masked out)
    let sumPlus = f32x4.splat(0);
    let sumMinus = f32x4.splat(0);
    const mp4 = f32x4.splat(maxPlus);
    const mm4 = f32x4.splat(maxMinus);
    for (let r = 0; r < m; r += 4) {
      const uv = v128.load(row + (<usize>r << 2));
      const keep = lanesBelow(r, m);
      const plus = exp2negWith(f32x4.mul(f32x4.sub(uv, mp4), log2e), magic, e6, e5, e4, e3, e2, e1, bias, lowest);
      const minus = exp2negWith(f32x4.mul(f32x4.sub(f32x4.neg(uv), mm4), log2e), magic, e6, e5, e4, e3, e2, e1, bias, lowest);
      sumPlus = f32x4.add(sumPlus, v128.and(plus, keep));
      sumMinus = f32x4.add(sumMinus, v128.and(minus, keep));
    }
    const lsePlus = <f64>maxPlus + Math.log(<f64>hsum(sumPlus));
    const lseMinus = <f64>maxMinus + Math.log(<f64>hsum(sumMinus));
    const shift = f32x4.splat(<f32>((lsePlus - lseMinus) / 2));
    for (let r = 0; r < mp; r += 4) {
      const p = row + (<usize>r << 2);
      v128.store(p, f32x4.sub(v128.load(p), shift)); // pad lanes too: the map zeroes them anyway
    }
    store<f32>(h + (<usize>i << 2), <f32>((lsePlus + lseMinus) / 2));
    store<f32>(top + (<usize>i << 2), 0);
  }
}

/**
 * ∂loss/∂u for one row of the normalized map, from the stored φ (p, Mp = 2·mp floats: [φ₊ | φ₋]) and dφ (g):
 *   du_r = φ₊_r(dφ₊_r − ⟨φ₊, dφ₊⟩/Σφ₊) − φ₋_r(dφ₋_r − ⟨φ₋, dφ₋⟩/Σφ₋)
 * (softmax Jacobian; Σφ± = a·exp(−c), so the formula holds for the stored φ at any stabilizer c).
 * Rows whose φ is all zero (masked) get zeros. Pad lanes of du are written as zeros.
 */
export function normalizedRowGradient(p: usize, g: usize, du: usize, m: i32, mp: i32): void {
  const off = <usize>mp << 2;
  let sp: f32 = 0, sm: f32 = 0, dp: f32 = 0, dm: f32 = 0;
  for (let r = 0; r < m; r++) {
    const o = <usize>r << 2;
    const pp = load<f32>(p + o), pm = load<f32>(p + off + o);
    sp += pp;
    sm += pm;
    dp += pp * load<f32>(g + o);
    dm += pm * load<f32>(g + off + o);
  }
  const meanPlus: f32 = sp > 0 ? dp / sp : 0;
  const meanMinus: f32 = sm > 0 ? dm / sm : 0;
  for (let r = 0; r < mp; r++) {
    const o = <usize>r << 2;
    let v: f32 = 0;
    if (r < m) {
      v = load<f32>(p + o) * (load<f32>(g + o) - meanPlus) - load<f32>(p + off + o) * (load<f32>(g + off + o) - meanMinus);
    }
    store<f32>(du + o, v);
  }
}
