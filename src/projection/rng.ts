// Seeded, platform-independent random numbers.
//
// Every number this file produces is a function of the seed alone, bit for bit, in every JavaScript
// engine: the code uses only 32-bit integer operations (Math.imul, shifts, xor) and the float64
// operations that IEEE 754 defines exactly (+, −, ×, ÷, sqrt, and int ↔ float conversions). It never
// calls Math.log / Math.exp / Math.cos, whose last bits differ between V8, JavaScriptCore and
// SpiderMonkey. The logarithm the normal sampler needs is computed here (`portableLog`).
//
// Stream layout (changing any of this changes every projection drawn from a seed; the golden
// checksums in test/projection/rng.test.ts and test/projection/projection.test.ts catch it):
//   seed (uint32) → splitmix32 → 4 state words → xoshiro128** → nextUint32()
//   uniform() = two nextUint32() draws → 52 bits → (k + ½)/2^52
//   normal()  = Marsaglia's polar method on pairs of uniform(); the second normal of a pair is kept
//               for the next call.
import { PerformerError } from '../arguments/errors.ts';
import { describe } from '../arguments/validate.ts';

/** A seed must be an integer in [0, 2^32). Anything else throws INVALID_OPTION (no silent wrapping). */
export function checkSeed(value: unknown, name = 'seed'): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new PerformerError('INVALID_OPTION', `${name} must be an integer in [0, 2^32), got ${describe(value)}`);
  }
  return value;
}

/**
 * splitmix32: a Weyl sequence (step 0x9e3779b9, the 32-bit golden ratio) passed through MurmurHash3's
 * 32-bit finalizer `fmix32` (Appleby). fmix32 is a bijection, so four consecutive outputs are
 * distinct and at most one of them is 0: the xoshiro state can never be all zero.
 * Returns [output, next state].
 */
function splitmix32(state: number): [number, number] {
  state = (state + 0x9e3779b9) >>> 0;
  let z = state;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [(z ^ (z >>> 16)) >>> 0, state];
}

const TWO_POW_26 = 67108864;
const TWO_POW_52 = 4503599627370496;

/**
 * xoshiro128** 1.1 (Blackman & Vigna, "Scrambled linear pseudorandom number generators", 2018;
 * reference code at https://prng.di.unimi.it/xoshiro128starstar.c): 128 bits of state, period 2^128 − 1,
 * 32-bit outputs. Seeded from a uint32 with splitmix32 as its authors recommend.
 */
export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  /** The second normal of the last polar pair, or NaN when there is none. */
  private spare = NaN;

  /** `seed`: an integer in [0, 2^32) (INVALID_OPTION otherwise). */
  constructor(seed: number) {
    let st = checkSeed(seed);
    let out: number;
    [out, st] = splitmix32(st);
    this.s0 = out;
    [out, st] = splitmix32(st);
    this.s1 = out;
    [out, st] = splitmix32(st);
    this.s2 = out;
    [out, st] = splitmix32(st);
    this.s3 = out;
  }

  /** A generator with the raw xoshiro128** state (for checking against the reference implementation). */
  static fromState(s0: number, s1: number, s2: number, s3: number): Rng {
    const r = new Rng(0);
    r.s0 = s0 >>> 0;
    r.s1 = s1 >>> 0;
    r.s2 = s2 >>> 0;
    r.s3 = s3 >>> 0;
    if ((r.s0 | r.s1 | r.s2 | r.s3) === 0) throw new PerformerError('INVALID_OPTION', 'xoshiro128** state must not be all zero');
    return r;
  }

  /** The next 32 random bits as an integer in [0, 2^32). */
  nextUint32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 = s1 ^ this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /**
   * A float64 uniform in the open interval (0, 1): k = 52 random bits (the top 26 bits of two draws),
   * returned as (k + ½)/2^52 — the midpoints of a 2^-52 grid, exactly representable, never 0 or 1, and
   * symmetric under u ↦ 1 − u.
   */
  uniform(): number {
    const hi = this.nextUint32() >>> 6;
    const lo = this.nextUint32() >>> 6;
    return (hi * TWO_POW_26 + lo + 0.5) / TWO_POW_52;
  }

  /**
   * A float64 sample of N(0, 1) by Marsaglia's polar method (Marsaglia & Bray, "A convenient method for
   * generating normal variables", SIAM Review 6, 1964): draw (u, v) uniform in the square (−1, 1)²
   * until 0 < s = u² + v² < 1; then u·√(−2 ln s / s) and v·√(−2 ln s / s) are independent N(0, 1).
   * u = 2·uniform() − 1 is exact and never 0, so s > 0 always.
   */
  normal(): number {
    const spare = this.spare;
    if (spare === spare) {
      this.spare = NaN;
      return spare;
    }
    for (;;) {
      const u = 2 * this.uniform() - 1;
      const v = 2 * this.uniform() - 1;
      const s = u * u + v * v;
      if (s >= 1) continue;
      const f = Math.sqrt((-2 * portableLog(s)) / s);
      this.spare = v * f;
      return u * f;
    }
  }

  /** Fills `out` with N(0, 1) samples (in order, as repeated normal() calls would). */
  fillNormal(out: Float64Array): Float64Array {
    for (let i = 0; i < out.length; i++) out[i] = this.normal();
    return out;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

// ---------------------------------------------------------------------------------------------------
// The natural logarithm from Sun's fdlibm (e_log.c, 1993; the same algorithm as FreeBSD msun and musl).
// Error < 1 ulp. Only +, −, ×, ÷ and exact bit manipulation, so every engine gets the same bits.
//   1. x = 2^k·(1 + f) with √2/2 < 1 + f < √2.
//   2. log(1 + f) = log(1 + s) − log(1 − s) with s = f/(2 + f), = 2s + 2/3 s³ + 2/5 s⁵ + … = 2s + s·R(z),
//      z = s²; R is a degree-14 Remez polynomial (Lg1…Lg7) on [0, 0.1716], error ≤ 2^−58.45.
//   3. log(x) = k·ln2_hi + (f − (hfsq − (s·(hfsq + R) + k·ln2_lo))), hfsq = f²/2; k·ln2_hi is exact
//      for |k| < 2000.
// Constants with their IEEE 754 bit patterns (high word, low word) as in fdlibm.
const LN2_HI = 6.93147180369123816490e-1; // 3fe62e42 fee00000
const LN2_LO = 1.90821492927058770002e-10; // 3dea39ef 35793c76
const TWO54 = 1.8014398509481984e16; // 43500000 00000000
const LG1 = 6.666666666666735130e-1; // 3fe55555 55555593
const LG2 = 3.999999999940941908e-1; // 3fd99999 9997fa04
const LG3 = 2.857142874366239149e-1; // 3fd24924 94229359
const LG4 = 2.222219843214978396e-1; // 3fcc71c5 1d8e78af
const LG5 = 1.818357216161805012e-1; // 3fc74664 96cb03de
const LG6 = 1.531383769920937332e-1; // 3fc39a09 d078c69f
const LG7 = 1.479819860511658591e-1; // 3fc2f112 df3e5244

// Bit access with an explicit byte order: independent of the platform's endianness.
const bits = new DataView(new ArrayBuffer(8));
function highWord(x: number): number {
  bits.setFloat64(0, x, true);
  return bits.getInt32(4, true);
}
function lowWord(x: number): number {
  bits.setFloat64(0, x, true);
  return bits.getUint32(0, true);
}
function withHighWord(x: number, hi: number): number {
  bits.setFloat64(0, x, true);
  bits.setInt32(4, hi, true);
  return bits.getFloat64(0, true);
}

/** ln(x) in float64, identical in every engine (fdlibm's __ieee754_log; error < 1 ulp). */
export function portableLog(x: number): number {
  let hx = highWord(x);
  let k = 0;
  if (hx < 0x00100000) {
    // x < 2^-1022: zero, negative, or subnormal
    if (((hx & 0x7fffffff) | lowWord(x)) === 0) return -Infinity;
    if (hx < 0) return NaN;
    k -= 54;
    x *= TWO54; // scale a subnormal up
    hx = highWord(x);
  }
  if (hx >= 0x7ff00000) return x + x; // +Infinity or NaN
  k += (hx >> 20) - 1023;
  hx &= 0x000fffff;
  const i0 = (hx + 0x95f64) & 0x100000;
  x = withHighWord(x, hx | (i0 ^ 0x3ff00000)); // normalize x or x/2 into [√2/2, √2)
  k += i0 >> 20;
  const f = x - 1;
  const dk = k;
  if ((0x000fffff & (2 + hx)) < 3) {
    // −2^-20 ≤ f < 2^-20: a short Taylor series
    if (f === 0) return k === 0 ? 0 : dk * LN2_HI + dk * LN2_LO;
    const r = f * f * (0.5 - 0.33333333333333333 * f);
    return k === 0 ? f - r : dk * LN2_HI - (r - dk * LN2_LO - f);
  }
  const s = f / (2 + f);
  const z = s * s;
  const w = z * z;
  const t1 = w * (LG2 + w * (LG4 + w * LG6));
  const t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
  const r = t2 + t1;
  if (((hx - 0x6147a) | (0x6b851 - hx)) > 0) {
    // 1 + f far from 1: the more accurate form with hfsq
    const hfsq = 0.5 * f * f;
    return k === 0 ? f - (hfsq - s * (hfsq + r)) : dk * LN2_HI - (hfsq - (s * (hfsq + r) + dk * LN2_LO) - f);
  }
  return k === 0 ? f - s * (f - r) : dk * LN2_HI - (s * (f - r) - dk * LN2_LO - f);
}
