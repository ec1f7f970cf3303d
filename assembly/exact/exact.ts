// Exact softmax attention for one head, tiled, with an online softmax (FlashAttention-style).
//
// Memory contract: q (Lq×d), k (Lk×d), v (Lk×dv), out (Lq×dv): contiguous row-major f32, any 4-byte
// alignment; mask: 0 or Lk bytes (nonzero = keep); scratch: exact_scratch_bytes(Lq, Lk, d, dv) bytes that
// the kernel owns during the call (16-byte alignment is best; any is correct). out must not overlap the
// inputs. No allocation; nothing is written outside out and scratch.
//
// Method. Queries go in tiles of up to BR rows, keys in tiles of up to BC rows. Every tile is worked in
// transposed form, so that the queries of the tile lie along the f32x4 lanes and all softmax
// bookkeeping is vertical (no horizontal reductions, no transposes of K or V):
//   QT  (d × w)  = scale·log2(e)·Q_tileᵀ, built once per query tile (w = tile rows rounded up to 8,
//                  zero padded): scores are in log2 units, so that the softmax needs 2^x, not e^x
//   ST  (nk × w) = K_tile·QT                      the scores, keys down, queries across
//   mt  (w)      = column max of ST               fused into the score kernel's epilogue, as is masking
//   m_new = max(m, mt); alpha = 2^(m − m_new); P = 2^(ST − m_new) in place; l = alpha·l + Σ_j P
//   OT  (dv × w) = alpha·OT + V_tileᵀ·P           (V read in place, its rows broadcast; the tile's sum
//                                                  is formed from zero, then added: blocked summation)
// and at the end out[i, c] = OT[c, i] / l[i] (0 where l = 0: the query saw no key). Masked scores are
// −∞, which exp2neg maps to 0; a column whose max is still −∞ uses 0 as its max so that no −∞ − −∞ = NaN
// appears. Finite inputs give finite outputs: every exponent is ≤ 0 and the largest term of l is 1.
// Causal: key tiles wholly past the last query's limit are skipped, and only tiles that straddle the
// diagonal pay for per-element masking.
//
// Scratch: w·(d + dv + BC + 4) floats = O(tile·(d + dv)), independent of Lq·Lk.
import { EXP2_CONSTANTS, exp2negWith, LOG2E } from '../linalg/math';
import { madd } from '../linalg/simd';
import { Pass } from '../descriptors';

// Tile sizes, measured (L = 1024..4096, d = 64, one head): every pair in {32, 64, 128} × {64, 128, 256}
// ran within ±3% of the others (noise level on this machine); 128 query rows was the slowest. 64 × 128
// keeps QT, one K tile, ST, OT (16 + 32 + 32 + 16 KiB at d = dv = 64) in L2 with little causal waste (the
// diagonal tile's masked triangle is ≤ 64·64/2 scores).
/** Query rows per tile (multiple of 8). */
const BR: i32 = 64;
/** Keys per tile (multiple of 4). */
const BC: i32 = 128;

const NEG_INF: f32 = -Infinity;

@inline function tileWidth(Lq: i32): i32 {
  return min(BR, (Lq + 7) & ~7);
}

@inline function tileKeys(Lk: i32): i32 {
  return min(BC, (Lk + 3) & ~3);
}

/**
 * Bytes of scratch for exact_attention: 4·w·(d + dv + min(Lk, 128) + 4), w = min(64, Lq rounded up to 8).
 * Computed in 64 bits; a size past 4 GiB − 1 returns 0xFFFFFFFF (it cannot exist in wasm32), never a wrapped
 * small number: with Lq = Lk = 1 and d = 2^27 the true size is 4 GiB + 288 bytes while q and k are 512 MiB each.
 * (The caller must read the i32 result unsigned: `>>> 0`.)
 */
export function exact_scratch_bytes(Lq: i32, Lk: i32, d: i32, dv: i32): usize {
  if (Lq <= 0 || Lk <= 0 || d <= 0 || dv <= 0) return 0;
  const w = <u64>tileWidth(Lq);
  const bytes = (w * (<u64>d + <u64>dv + <u64>tileKeys(Lk) + 4)) << 2;
  return bytes > <u64>0xffffffff ? <usize>0xffffffff : <usize>bytes;
}

/** One masked score vector: lanes are queries q0..q0+3 (already shifted by Lk − Lq), the key is jj. */
@inline function maskScores(s: v128, jj: i32, q0: i32, causal: bool, mask: usize): v128 {
  if (mask && load<u8>(mask + <usize>jj) == 0) return f32x4.splat(NEG_INF);
  if (causal) {
    // query lane sees key jj when jj ≤ q: hide where q < jj
    const qi = i32x4.add(i32x4.splat(q0), v128(0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0));
    return v128.bitselect(f32x4.splat(NEG_INF), s, i32x4.lt_s(qi, i32x4.splat(jj)));
  }
  return s;
}

/**
 * st[j·w + i] = Σ_t kp[j·d + t]·qt[t·w + i] for j < nk, i < w (w % 8 == 0), masked entries set to −∞,
 * and mt[i] = max_j st[j·w + i]. j0: index of the tile's first key; qoff: index of the tile's first
 * query plus Lk − Lq; masked: whether this tile needs masking at all.
 */
function scoreTile(kp: usize, qt: usize, st: usize, mt: usize, nk: i32, w: i32, d: i32,
                   j0: i32, qoff: i32, causal: bool, mask: usize, masked: bool): void {
  const rowK = <usize>d << 2;
  const rowW = <usize>w << 2;
  for (let i = 0; i < w; i += 4) v128.store(mt + (<usize>i << 2), f32x4.splat(NEG_INF));
  let j = 0;
  for (; j + 4 <= nk; j += 4) {
    const k0 = kp + <usize>j * rowK;
    const k1 = k0 + rowK;
    const k2 = k1 + rowK;
    const k3 = k2 + rowK;
    const s0 = st + <usize>j * rowW;
    for (let i = 0; i < w; i += 8) {
      const io = <usize>i << 2;
      let a00 = f32x4.splat(0), a01 = f32x4.splat(0);
      let a10 = f32x4.splat(0), a11 = f32x4.splat(0);
      let a20 = f32x4.splat(0), a21 = f32x4.splat(0);
      let a30 = f32x4.splat(0), a31 = f32x4.splat(0);
      let b = qt + io;
      for (let t: usize = 0, tn = rowK; t < tn; t += 4) {
        const b0 = v128.load(b);
        const b1 = v128.load(b, 16);
        let x = v128.load32_splat(k0 + t);
        a00 = madd(x, b0, a00);
        a01 = madd(x, b1, a01);
        x = v128.load32_splat(k1 + t);
        a10 = madd(x, b0, a10);
        a11 = madd(x, b1, a11);
        x = v128.load32_splat(k2 + t);
        a20 = madd(x, b0, a20);
        a21 = madd(x, b1, a21);
        x = v128.load32_splat(k3 + t);
        a30 = madd(x, b0, a30);
        a31 = madd(x, b1, a31);
        b += rowW;
      }
      if (masked) {
        const jj = j0 + j;
        const q0 = qoff + i;
        a00 = maskScores(a00, jj, q0, causal, mask);
        a01 = maskScores(a01, jj, q0 + 4, causal, mask);
        a10 = maskScores(a10, jj + 1, q0, causal, mask);
        a11 = maskScores(a11, jj + 1, q0 + 4, causal, mask);
        a20 = maskScores(a20, jj + 2, q0, causal, mask);
        a21 = maskScores(a21, jj + 2, q0 + 4, causal, mask);
        a30 = maskScores(a30, jj + 3, q0, causal, mask);
        a31 = maskScores(a31, jj + 3, q0 + 4, causal, mask);
      }
      const p = s0 + io;
      v128.store(p, a00);
      v128.store(p, a01, 16);
      v128.store(p + rowW, a10);
      v128.store(p + rowW, a11, 16);
      v128.store(p + 2 * rowW, a20);
      v128.store(p + 2 * rowW, a21, 16);
      v128.store(p + 3 * rowW, a30);
      v128.store(p + 3 * rowW, a31, 16);
      const m = mt + io;
      v128.store(m, f32x4.pmax(v128.load(m), f32x4.pmax(f32x4.pmax(a00, a10), f32x4.pmax(a20, a30))));
      v128.store(m, f32x4.pmax(v128.load(m, 16), f32x4.pmax(f32x4.pmax(a01, a11), f32x4.pmax(a21, a31))), 16);
    }
  }
  for (; j < nk; j++) {
    const k0 = kp + <usize>j * rowK;
    const s0 = st + <usize>j * rowW;
    for (let i = 0; i < w; i += 8) {
      const io = <usize>i << 2;
      let a00 = f32x4.splat(0), a01 = f32x4.splat(0);
      let b = qt + io;
      for (let t: usize = 0, tn = rowK; t < tn; t += 4) {
        const x = v128.load32_splat(k0 + t);
        a00 = madd(x, v128.load(b), a00);
        a01 = madd(x, v128.load(b, 16), a01);
        b += rowW;
      }
      if (masked) {
        a00 = maskScores(a00, j0 + j, qoff + i, causal, mask);
        a01 = maskScores(a01, j0 + j, qoff + i + 4, causal, mask);
      }
      v128.store(s0 + io, a00);
      v128.store(s0 + io, a01, 16);
      const m = mt + io;
      v128.store(m, f32x4.pmax(v128.load(m), a00));
      v128.store(m, f32x4.pmax(v128.load(m, 16), a01), 16);
    }
  }
}

/**
 * The online-softmax step for one key tile: m_new = max(m, mt); alpha = e^(m − m_new) (into mt);
 * st ← e^(st − m_new) in place; l ← alpha·l + Σ_j st. Columns still at −∞ use 0 as their max.
 */
function softmaxTile(st: usize, m: usize, l: usize, mt: usize, nk: i32, w: i32): void {
  const rowW = <usize>w << 2;
  const ninf = f32x4.splat(NEG_INF);
  const zero = f32x4.splat(0);
  const k = EXP2_CONSTANTS; // loaded once: see exp2negWith
  const magic = v128.load(k), e6 = v128.load(k, 16), e5 = v128.load(k, 32), e4 = v128.load(k, 48), e3 = v128.load(k, 64);
  const e2 = v128.load(k, 80), e1 = v128.load(k, 96), bias = v128.load(k, 112), lowest = v128.load(k, 128);
  for (let i = 0; i < w; i += 8) {
    const io = <usize>i << 2;
    const mo0 = v128.load(m + io);
    const mo1 = v128.load(m + io, 16);
    const mn0 = f32x4.pmax(mo0, v128.load(mt + io));
    const mn1 = f32x4.pmax(mo1, v128.load(mt + io, 16));
    const ms0 = v128.bitselect(zero, mn0, f32x4.eq(mn0, ninf));
    const ms1 = v128.bitselect(zero, mn1, f32x4.eq(mn1, ninf));
    const al0 = exp2negWith(f32x4.sub(mo0, ms0), magic, e6, e5, e4, e3, e2, e1, bias, lowest);
    const al1 = exp2negWith(f32x4.sub(mo1, ms1), magic, e6, e5, e4, e3, e2, e1, bias, lowest);
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
    let s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    let p = st + io;
    let j = 0;
    for (; j + 2 <= nk; j += 2) {
      const x0 = exp2negWith(f32x4.sub(v128.load(p), ms0), magic, e6, e5, e4, e3, e2, e1, bias, lowest);
      const x1 = exp2negWith(f32x4.sub(v128.load(p, 16), ms1), magic, e6, e5, e4, e3, e2, e1, bias, lowest);
      const x2 = exp2negWith(f32x4.sub(v128.load(p + rowW), ms0), magic, e6, e5, e4, e3, e2, e1, bias, lowest);
      const x3 = exp2negWith(f32x4.sub(v128.load(p + rowW, 16), ms1), magic, e6, e5, e4, e3, e2, e1, bias, lowest);
      v128.store(p, x0);
      v128.store(p, x1, 16);
      v128.store(p + rowW, x2);
      v128.store(p + rowW, x3, 16);
      s0 = f32x4.add(s0, x0);
      s1 = f32x4.add(s1, x1);
      s2 = f32x4.add(s2, x2);
      s3 = f32x4.add(s3, x3);
      p += 2 * rowW;
    }
    if (j < nk) {
      const x0 = exp2negWith(f32x4.sub(v128.load(p), ms0), magic, e6, e5, e4, e3, e2, e1, bias, lowest);
      const x1 = exp2negWith(f32x4.sub(v128.load(p, 16), ms1), magic, e6, e5, e4, e3, e2, e1, bias, lowest);
      v128.store(p, x0);
      v128.store(p, x1, 16);
      s0 = f32x4.add(s0, x0);
      s1 = f32x4.add(s1, x1);
    }
    v128.store(l + io, madd(v128.load(l + io), al0, f32x4.add(s0, s2)));
    v128.store(l + io, madd(v128.load(l + io, 16), al1, f32x4.add(s1, s3)), 16);
    v128.store(m + io, mn0);
    v128.store(m + io, mn1, 16);
    v128.store(mt + io, al0);
    v128.store(mt + io, al1, 16);
  }
}

/** ot[c·w + i] = alpha[i]·ot[c·w + i] + Σ_{j<nk} vp[j·dv + c]·pt[j·w + i], for c < dv, i < w (w % 8 == 0). */
function valueTile(vp: usize, pt: usize, ot: usize, alpha: usize, nk: i32, w: i32, dv: i32): void {
  const rowW = <usize>w << 2;
  const rowV = <usize>dv << 2;
  const n = <usize>nk;
  let c = 0;
  for (; c + 4 <= dv; c += 4) {
    const v0 = vp + (<usize>c << 2);
    const o0 = ot + <usize>c * rowW;
    for (let i = 0; i < w; i += 8) {
      const io = <usize>i << 2;
      const o = o0 + io;
      // this tile's sum starts from zero and is added to the rescaled running sum at the end: blocked
      // summation, whose rounding error grows with tile + tiles rather than with the number of keys
      let a00 = f32x4.splat(0), a01 = f32x4.splat(0);
      let a10 = f32x4.splat(0), a11 = f32x4.splat(0);
      let a20 = f32x4.splat(0), a21 = f32x4.splat(0);
      let a30 = f32x4.splat(0), a31 = f32x4.splat(0);
      let b = pt + io;
      let x0 = v0;
      for (let j: usize = 0; j < n; j++) {
        const b0 = v128.load(b);
        const b1 = v128.load(b, 16);
        let x = v128.load32_splat(x0);
        a00 = madd(x, b0, a00);
        a01 = madd(x, b1, a01);
        x = v128.load32_splat(x0, 4);
        a10 = madd(x, b0, a10);
        a11 = madd(x, b1, a11);
        x = v128.load32_splat(x0, 8);
        a20 = madd(x, b0, a20);
        a21 = madd(x, b1, a21);
        x = v128.load32_splat(x0, 12);
        a30 = madd(x, b0, a30);
        a31 = madd(x, b1, a31);
        b += rowW;
        x0 += rowV;
      }
      const al0 = v128.load(alpha + io);
      const al1 = v128.load(alpha + io, 16);
      v128.store(o, madd(v128.load(o), al0, a00));
      v128.store(o, madd(v128.load(o, 16), al1, a01), 16);
      v128.store(o + rowW, madd(v128.load(o + rowW), al0, a10));
      v128.store(o + rowW, madd(v128.load(o + rowW, 16), al1, a11), 16);
      v128.store(o + 2 * rowW, madd(v128.load(o + 2 * rowW), al0, a20));
      v128.store(o + 2 * rowW, madd(v128.load(o + 2 * rowW, 16), al1, a21), 16);
      v128.store(o + 3 * rowW, madd(v128.load(o + 3 * rowW), al0, a30));
      v128.store(o + 3 * rowW, madd(v128.load(o + 3 * rowW, 16), al1, a31), 16);
    }
  }
  for (; c < dv; c++) {
    const v0 = vp + (<usize>c << 2);
    const o0 = ot + <usize>c * rowW;
    for (let i = 0; i < w; i += 8) {
      const io = <usize>i << 2;
      const o = o0 + io;
      let a00 = f32x4.splat(0), a01 = f32x4.splat(0);
      let b = pt + io;
      let x0 = v0;
      for (let j: usize = 0; j < n; j++) {
        const x = v128.load32_splat(x0);
        a00 = madd(x, v128.load(b), a00);
        a01 = madd(x, v128.load(b, 16), a01);
        b += rowW;
        x0 += rowV;
      }
      v128.store(o, madd(v128.load(o), v128.load(alpha + io), a00));
      v128.store(o, madd(v128.load(o, 16), v128.load(alpha + io, 16), a01), 16);
    }
  }
}

/**
 * out = softmax(scale·Q·Kᵀ)·V for one head: pass.queries rows at pass.q into pass.out, pass.keys rows at pass.k,
 * pass.v (pass.valueDim wide) and pass.mask (0 or one byte per key); q and k rows are dim wide. causal ≠ 0: query i
 * sees keys j ≤ i + (keys − queries). scratch: exact_scratch_bytes(queries, keys, dim, valueDim) bytes.
 */
export function exact_attention(pass: Pass, dim: i32, scale: f32, causal: i32, scratch: usize): void {
  exactAttention(pass.q, pass.k, pass.v, pass.out, pass.queries, pass.keys, dim, pass.valueDim, scale, causal, pass.mask, scratch);
}

function exactAttention(q: usize, k: usize, v: usize, out: usize, Lq: i32, Lk: i32, d: i32, dv: i32,
                        scale: f32, causal: i32, mask: usize, scratch: usize): void {
  if (Lq <= 0 || Lk <= 0 || d <= 0 || dv <= 0) return;
  const W = tileWidth(Lq);
  const isCausal = causal != 0;
  const shift = Lk - Lq; // query i sees keys j ≤ i + shift when causal
  // scratch layout (floats): qt d·W | st BC'·W | ot dv·W | m W | l W | mt W | inv W
  const qt = scratch;
  const st = qt + ((<usize>d * <usize>W) << 2);
  const ot = st + ((<usize>tileKeys(Lk) * <usize>W) << 2);
  const m = ot + ((<usize>dv * <usize>W) << 2);
  const l = m + (<usize>W << 2);
  const mt = l + (<usize>W << 2);
  const inv = mt + (<usize>W << 2);
  const rowQ = <usize>d << 2;
  const rowV = <usize>dv << 2;
  const qs = scale * LOG2E; // scores in log2 units

  for (let i0 = 0; i0 < Lq; i0 += W) {
    const nq = min(W, Lq - i0);
    const w = (nq + 7) & ~7;
    const rowW = <usize>w << 2;
    // QT = scale·Q_tileᵀ, zero in the padding columns nq..w−1
    for (let t = 0; t < d; t++) {
      const dst = qt + <usize>t * rowW;
      let src = q + <usize>i0 * rowQ + (<usize>t << 2);
      for (let i = 0; i < nq; i++) {
        store<f32>(dst + (<usize>i << 2), qs * load<f32>(src));
        src += rowQ;
      }
      for (let i = nq; i < w; i++) store<f32>(dst + (<usize>i << 2), 0);
    }
    for (let i = 0; i < w; i += 4) {
      const io = <usize>i << 2;
      v128.store(m + io, f32x4.splat(NEG_INF));
      v128.store(l + io, f32x4.splat(0));
    }
    const otEnd = ot + <usize>dv * rowW;
    for (let p = ot; p < otEnd; p += 16) v128.store(p, f32x4.splat(0));

    // keys that any query of this tile can see: j < jEnd
    const jEnd = isCausal ? min(Lk, i0 + nq + shift) : Lk;
    const firstLimit = i0 + shift; // the tile's first query sees keys j ≤ firstLimit
    for (let j0 = 0; j0 < jEnd; j0 += BC) {
      const nk = min(BC, jEnd - j0);
      const masked = mask != 0 || (isCausal && j0 + nk - 1 > firstLimit);
      scoreTile(k + <usize>j0 * rowQ, qt, st, mt, nk, w, d, j0, i0 + shift, isCausal, mask, masked);
      softmaxTile(st, m, l, mt, nk, w);
      valueTile(v + <usize>j0 * rowV, st, ot, mt, nk, w, dv);
    }

    // out[i0 + i, c] = OT[c, i] / l[i]; zero where no key was seen (l = 0)
    for (let i = 0; i < w; i += 4) {
      const io = <usize>i << 2;
      const li = v128.load(l + io);
      v128.store(inv + io, v128.bitselect(f32x4.div(f32x4.splat(1), li), f32x4.splat(0), f32x4.gt(li, f32x4.splat(0))));
    }
    for (let i = 0; i < nq; i++) {
      const s = load<f32>(inv + (<usize>i << 2));
      const dst = out + <usize>(i0 + i) * rowV;
      let src = ot + (<usize>i << 2);
      for (let c = 0; c < dv; c++) {
        store<f32>(dst + (<usize>c << 2), load<f32>(src) * s);
        src += rowW;
      }
    }
  }
}
