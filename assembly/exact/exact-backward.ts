// Gradients of exact softmax attention for one head (FlashAttention-2 style recomputation).
//
// Memory contract: q, dq (Lq×d), k, dk (Lk×d), v, dv (Lk×dv), dout (Lq×dv): contiguous row-major f32, any
// 4-byte alignment; mask: 0 or Lk bytes (nonzero = keep); scratch: exact_backward_scratch_bytes(Lq, Lk, d, dv)
// bytes that the kernel owns during the call (16-byte alignment is best; any is correct). dq, dk, dv must not
// overlap each other or the inputs. No allocation; nothing is written outside dq, dk, dv and scratch.
//
// Mathematics (natural-log units; s_ij = scale·q_i·k_j over the visible keys of query i):
//   P_ij = exp(s_ij − lse_i),  out_i = Σ_j P_ij v_j,  D_i = Σ_c dout_ic·out_ic
//   dv_j = Σ_i P_ij dout_i,  dP_ij = dout_i·v_j,  dS_ij = P_ij (dP_ij − D_i)
//   dq_i = scale·Σ_j dS_ij k_j,  dk_j = scale·Σ_i dS_ij q_i
// Invisible (masked, or causal: j > i + Lk − Lq) pairs have P = 0 and so dS = 0: they contribute nothing,
// and a query that sees no key (out = 0) contributes nothing either.
//
// Method: O(L) extra memory, never an Lq×Lk matrix.
//   1. Pack Kᵀ and Vᵀ in key tiles of tk columns (d×tk and dv×tk blocks, zero padded), and the key mask as
//      an additive bias (0 or −∞; −∞ in the padding columns), so that every product below is a 2×16
//      register-blocked gemm_nn / gemm_tn (assembly/linalg/gemm.ts) on contiguous blocks.
//   2. Forward, query tiles outer, key tiles inner, with an online softmax in log2 units (as exact.ts):
//      S = Q_i·Kᵀ_j; x = S·scale·log2(e) + bias (causal: −∞ past the diagonal); row max; P = 2^(x − m);
//      T = P·V_j (from zero: blocked summation); O = alpha·O + T. Kept per query: the row max m (log2 units,
//      0 for a query that sees nothing), 1/l (0 for it), and D_i = (dout_i·O_i)/l_i. The output itself is
//      discarded.
//   3. Backward, key tiles outer, query tiles inner (from the first query that sees the tile, when causal):
//      S = Q_i·Kᵀ_j and dP = dOut_i·Vᵀ_j (gemm_nn); P = 2^(x − m)·(1/l) in place of S and
//      dS = P·(dP − D) in place of dP (one vectorized pass); then dV_j += Pᵀ·dOut_i,
//      dK_j += scale·dSᵀ·Q_i (gemm_tn), dQ_i += scale·dS·K_j (gemm_nn). Each product is formed from
//      zero in a tile buffer and then added to the output (blocked summation: the rounding error grows with
//      the tile length plus the number of tiles, not with the sequence length).
// P is recomputed with the same gemm and the same arithmetic as in step 2 (gemm results do not depend on
// M, N or the row offset), so x − m ≤ 0 exactly and every exponent is in exp2neg4's domain.
//
// Scratch (floats): (d + dv + 1)·Lk' + 3·Lq + W·(2·tk + 2·dv' + d + 1) + tk·(d + dv), where tk = min(128, Lk
// rounded up to 4), Lk' = Lk rounded up to tk, W = min(64, Lq), dv' = dv rounded up to 4 (each region rounded
// up to 4 floats).
import { exp2neg4, LOG2E } from '../linalg/math';
import { hmax, hsum, madd } from '../linalg/simd';
import { gemm_nn, gemm_tn } from '../linalg/gemm';
import { Gradients, Pass } from '../descriptors';

/** Query rows per tile. */
const BR: i32 = 64;
/** Keys per tile (multiple of 16: full 2×16 gemm blocks). */
const BC: i32 = 128;

const NEG_INF: f32 = -Infinity;

@inline function up4(n: i32): i32 {
  return (n + 3) & ~3;
}

@inline function tileKeys(Lk: i32): i32 {
  return min(BC, up4(Lk));
}

@inline function tileRows(Lq: i32): i32 {
  return min(BR, Lq);
}

@inline function r4(x: u64): u64 {
  return (x + 3) & ~(<u64>3);
}

/** Scratch floats as a 64-bit count (the layout of exact_attention_backward, each region up to 4 floats). */
function scratchFloats(Lq: i32, Lk: i32, d: i32, dv: i32): u64 {
  const tk = <u64>tileKeys(Lk);
  const nT = (<u64>Lk + tk - 1) / tk;
  const lkp = nT * tk;
  const W = <u64>tileRows(Lq);
  const D = <u64>d, V = <u64>dv, V4 = r4(V);
  return D * lkp + V * lkp + lkp          // kt, vt, bias
    + 3 * r4(<u64>Lq)                     // m, 1/l, D
    + r4(W)                               // alpha
    + 2 * W * tk                          // S, dP tiles
    + 2 * W * V4                          // O, T (forward)
    + r4(W * D) + tk * D + r4(tk * V);    // dQ, dK, dV tile products
}

/**
 * Bytes of scratch for exact_attention_backward (see the layout above). Computed in 64 bits; a size past
 * 4 GiB − 1 returns 0xFFFFFFFF (it cannot exist in wasm32), never a wrapped small number. The caller must read
 * the i32 result unsigned: `>>> 0`.
 */
export function exact_backward_scratch_bytes(Lq: i32, Lk: i32, d: i32, dv: i32): usize {
  if (Lq <= 0 || Lk <= 0 || d <= 0 || dv <= 0) return 0;
  const bytes = scratchFloats(Lq, Lk, d, dv) << 2;
  return bytes > <u64>0xffffffff ? <usize>0xffffffff : <usize>bytes;
}

/** dst[c·ld + r] = src[r·n + c] for r < rows, c < n: one tile of rows (keys) transposed; columns rows..ld−1 zero. */
function packTransposed(src: usize, dst: usize, rows: i32, n: i32, ld: i32): void {
  const rowS = <usize>n << 2;
  const rowD = <usize>ld << 2;
  for (let c = 0; c < n; c++) {
    const o = dst + <usize>c * rowD;
    let s = src + (<usize>c << 2);
    for (let r = 0; r < rows; r++) {
      store<f32>(o + (<usize>r << 2), load<f32>(s));
      s += rowS;
    }
    for (let r = rows; r < ld; r++) store<f32>(o + (<usize>r << 2), 0);
  }
}

/** dst[i] += a·src[i] for i < n. */
function addInto(dst: usize, src: usize, a: f32, n: i32): void {
  const end = dst + (<usize>n << 2);
  const end4 = dst + (<usize>(n & ~3) << 2);
  const av = f32x4.splat(a);
  while (dst != end4) {
    v128.store(dst, madd(v128.load(src), av, v128.load(dst)));
    dst += 16;
    src += 16;
  }
  while (dst != end) {
    store<f32>(dst, load<f32>(dst) + a * load<f32>(src));
    dst += 4;
    src += 4;
  }
}

const IOTA: v128 = i32x4(0, 1, 2, 3);

/**
 * Forward: one query tile (rows i0..i0+nq−1) against one key tile whose scores are in st (nq rows of tk,
 * n4 columns used). Per row: x = st·cs + bias (−∞ past column lim when causal), m_new = max(m, max x),
 * alpha = 2^(m − m_new) (into alpha[r]), st ← 2^(x − m_new), l ← alpha·l + Σ st. A row still at −∞ uses 0 as
 * its max, so that no −∞ − −∞ appears.
 */
function forwardSoftmax(st: usize, tk: i32, nq: i32, n4: i32, bias: usize, cs: f32, m: usize, l: usize, alpha: usize,
                        straddle: bool, lim0: i32): void {
  const rowS = <usize>tk << 2;
  const csv = f32x4.splat(cs);
  const ninf = f32x4.splat(NEG_INF);
  const n = <usize>n4 << 2;
  for (let r = 0; r < nq; r++) {
    const p = st + <usize>r * rowS;
    let vmax = ninf;
    if (straddle) {
      const lim = i32x4.splat(lim0 + r); // columns c > lim are past the diagonal
      for (let c: usize = 0; c < n; c += 16) {
        let x = madd(v128.load(p + c), csv, v128.load(bias + c));
        const col = i32x4.add(IOTA, i32x4.splat(<i32>(c >> 2)));
        x = v128.bitselect(ninf, x, i32x4.gt_s(col, lim));
        v128.store(p + c, x);
        vmax = f32x4.pmax(vmax, x);
      }
    } else {
      for (let c: usize = 0; c < n; c += 16) {
        const x = madd(v128.load(p + c), csv, v128.load(bias + c));
        v128.store(p + c, x);
        vmax = f32x4.pmax(vmax, x);
      }
    }
    const ro = <usize>r << 2;
    const mo = load<f32>(m + ro);
    const mn = max(mo, hmax(vmax));
    const ms: f32 = mn == NEG_INF ? 0 : mn;
    const al = f32x4.extract_lane(exp2neg4(f32x4.splat(mo - ms)), 0);
    const msv = f32x4.splat(ms);
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
    let c: usize = 0;
    for (; c + 32 <= n; c += 32) {
      const e0 = exp2neg4(f32x4.sub(v128.load(p + c), msv));
      const e1 = exp2neg4(f32x4.sub(v128.load(p + c, 16), msv));
      v128.store(p + c, e0);
      v128.store(p + c, e1, 16);
      s0 = f32x4.add(s0, e0);
      s1 = f32x4.add(s1, e1);
    }
    if (c < n) {
      const e0 = exp2neg4(f32x4.sub(v128.load(p + c), msv));
      v128.store(p + c, e0);
      s0 = f32x4.add(s0, e0);
    }
    store<f32>(l + ro, al * load<f32>(l + ro) + hsum(f32x4.add(s0, s1)));
    store<f32>(m + ro, mn);
    store<f32>(alpha + ro, al);
  }
}

/** o[r·ldo + c] = alpha[r]·o[r·ldo + c] + t[r·ldo + c], for r < nq, c < ldo (ldo % 4 == 0). */
function rescaleAdd(o: usize, t: usize, alpha: usize, nq: i32, ldo: i32): void {
  const row = <usize>ldo << 2;
  for (let r = 0; r < nq; r++) {
    const a = f32x4.splat(load<f32>(alpha + (<usize>r << 2)));
    const po = o + <usize>r * row;
    const pt = t + <usize>r * row;
    for (let c: usize = 0; c < row; c += 16) v128.store(po + c, madd(v128.load(po + c), a, v128.load(pt + c)));
  }
}

/**
 * Backward: one (query tile, key tile) pair. st holds S (scores), dp holds dP = dOut·Vᵀ (nq rows of tk, n4
 * columns used). In place: st ← P = 2^(x − m)·(1/l), dp ← dS = P·(dP − D) (the factor scale is applied when
 * the products dS·K and dSᵀ·Q are added to dq and dk).
 */
function backwardSoftmax(st: usize, dp: usize, tk: i32, nq: i32, n4: i32, bias: usize, cs: f32,
                         m: usize, il: usize, D: usize, straddle: bool, lim0: i32): void {
  const rowS = <usize>tk << 2;
  const csv = f32x4.splat(cs);
  const ninf = f32x4.splat(NEG_INF);
  const n = <usize>n4 << 2;
  for (let r = 0; r < nq; r++) {
    const ro = <usize>r << 2;
    const msv = f32x4.splat(load<f32>(m + ro));
    const ilv = f32x4.splat(load<f32>(il + ro));
    const dv = f32x4.splat(load<f32>(D + ro));
    const p = st + <usize>r * rowS;
    const g = dp + <usize>r * rowS;
    if (straddle) {
      const lim = i32x4.splat(lim0 + r);
      for (let c: usize = 0; c < n; c += 16) {
        let x = madd(v128.load(p + c), csv, v128.load(bias + c));
        const col = i32x4.add(IOTA, i32x4.splat(<i32>(c >> 2)));
        x = v128.bitselect(ninf, x, i32x4.gt_s(col, lim));
        const e = f32x4.mul(exp2neg4(f32x4.sub(x, msv)), ilv);
        v128.store(p + c, e);
        v128.store(g + c, f32x4.mul(e, f32x4.sub(v128.load(g + c), dv)));
      }
    } else {
      for (let c: usize = 0; c < n; c += 16) {
        const x = madd(v128.load(p + c), csv, v128.load(bias + c));
        const e = f32x4.mul(exp2neg4(f32x4.sub(x, msv)), ilv);
        v128.store(p + c, e);
        v128.store(g + c, f32x4.mul(e, f32x4.sub(v128.load(g + c), dv)));
      }
    }
  }
}

/**
 * g.dq, g.dk, g.dv (the caller's outputs) = the vector–Jacobian products of out = softmax(scale·Q·Kᵀ)·V with
 * g.dOut, for pass.queries rows at pass.q and pass.keys rows at pass.k, pass.v (q, k rows dim wide, v rows
 * pass.valueDim wide; pass.out unused). causal ≠ 0: query i sees keys j ≤ i + (keys − queries). pass.mask: 0 for
 * none, else one byte per key, nonzero = keep. scratch: exact_backward_scratch_bytes(queries, keys, dim, valueDim)
 * bytes. The other fields of g are unused.
 */
export function exact_attention_backward(pass: Pass, g: Gradients, dim: i32, scale: f32, causal: i32, scratch: usize): void {
  exactAttentionBackward(pass.q, pass.k, pass.v, g.dOut, g.dq, g.dk, g.dv, pass.queries, pass.keys, dim, pass.valueDim, scale, causal,
                         pass.mask, scratch);
}

function exactAttentionBackward(q: usize, k: usize, v: usize, dout: usize, dq: usize, dk: usize, dvo: usize,
                                Lq: i32, Lk: i32, d: i32, dv: i32, scale: f32, causal: i32, mask: usize,
                                scratch: usize): void {
  if (Lq <= 0 || Lk <= 0 || d <= 0 || dv <= 0) return;
  const isCausal = causal != 0;
  const shift = Lk - Lq; // query i sees keys j ≤ i + shift when causal
  const tk = tileKeys(Lk);
  const nT = (Lk + tk - 1) / tk;
  const lkp = nT * tk;
  const W = tileRows(Lq);
  const dv4 = up4(dv);
  const rowQ = <usize>d << 2;
  const rowV = <usize>dv << 2;
  const rowT = <usize>tk << 2;
  const cs = scale * LOG2E;

  // scratch layout, in order of scratchFloats
  const kt = scratch;
  const vt = kt + ((<usize>d * <usize>lkp) << 2);
  const bias = vt + ((<usize>dv * <usize>lkp) << 2);
  const rm = bias + (<usize>lkp << 2);
  const ril = rm + (<usize>up4(Lq) << 2);
  const rD = ril + (<usize>up4(Lq) << 2);
  const alpha = rD + (<usize>up4(Lq) << 2);
  const st = alpha + (<usize>up4(W) << 2);
  const dpt = st + ((<usize>W * <usize>tk) << 2);
  const ot = dpt + ((<usize>W * <usize>tk) << 2);
  const tt = ot + ((<usize>W * <usize>dv4) << 2);
  const dqt = tt + ((<usize>W * <usize>dv4) << 2);
  const dkt = dqt + (<usize>up4(W * d) << 2);
  const dvt = dkt + ((<usize>tk * <usize>d) << 2);

  // 1. pack Kᵀ, Vᵀ by key tile; the mask as an additive bias
  for (let t = 0; t < nT; t++) {
    const j0 = t * tk;
    const nk = min(tk, Lk - j0);
    packTransposed(k + <usize>j0 * rowQ, kt + <usize>t * (<usize>d * rowT), nk, d, tk);
    packTransposed(v + <usize>j0 * rowV, vt + <usize>t * (<usize>dv * rowT), nk, dv, tk);
  }
  for (let j = 0; j < lkp; j++) {
    const keep = j < Lk && (mask == 0 || load<u8>(mask + <usize>j) != 0);
    store<f32>(bias + (<usize>j << 2), keep ? <f32>0 : NEG_INF);
  }

  // 2. forward: row max m, 1/l and D per query
  memory.fill(tt, 0, (<usize>W * <usize>dv4) << 2); // T's padding columns dv..dv4−1 are never written by gemm
  for (let i0 = 0; i0 < Lq; i0 += W) {
    const nq = min(W, Lq - i0);
    const mi = rm + (<usize>i0 << 2);
    const li = ril + (<usize>i0 << 2);
    for (let r = 0; r < nq; r++) {
      store<f32>(mi + (<usize>r << 2), NEG_INF);
      store<f32>(li + (<usize>r << 2), 0);
    }
    memory.fill(ot, 0, (<usize>nq * <usize>dv4) << 2);
    const jEnd = isCausal ? min(Lk, i0 + nq + shift) : Lk;
    for (let j0 = 0; j0 < jEnd; j0 += tk) {
      const t = j0 / tk;
      const nk = min(tk, jEnd - j0);
      const n4 = up4(nk);
      const straddle = isCausal && j0 + n4 - 1 > i0 + shift;
      gemm_nn(q + <usize>i0 * rowQ, kt + <usize>t * (<usize>d * rowT), st, nq, n4, d, d, tk, tk, 0);
      forwardSoftmax(st, tk, nq, n4, bias + (<usize>j0 << 2), cs, mi, li, alpha, straddle, i0 + shift - j0);
      gemm_nn(st, v + <usize>j0 * rowV, tt, nq, dv, nk, tk, dv, dv4, 0);
      rescaleAdd(ot, tt, alpha, nq, dv4);
    }
    // 1/l (0 where no key was seen), the max as used in 2^(x − m) (0 there), D = dout·O/l
    for (let r = 0; r < nq; r++) {
      const ro = <usize>r << 2;
      const l = load<f32>(li + ro);
      const il: f32 = l > 0 ? <f32>1 / l : 0;
      const mr = load<f32>(mi + ro);
      store<f32>(mi + ro, mr == NEG_INF ? <f32>0 : mr);
      store<f32>(li + ro, il);
      const g = dout + <usize>(i0 + r) * rowV;
      const o = ot + <usize>r * (<usize>dv4 << 2);
      let acc = f32x4.splat(0);
      let c = 0;
      for (; c + 4 <= dv; c += 4) acc = madd(v128.load(g + (<usize>c << 2)), v128.load(o + (<usize>c << 2)), acc);
      let s = hsum(acc);
      for (; c < dv; c++) s += load<f32>(g + (<usize>c << 2)) * load<f32>(o + (<usize>c << 2));
      store<f32>(rD + (<usize>(i0 + r) << 2), s * il);
    }
  }

  // 3. backward
  memory.fill(dq, 0, <usize>Lq * rowQ);
  memory.fill(dk, 0, <usize>Lk * rowQ);
  memory.fill(dvo, 0, <usize>Lk * rowV);
  for (let t = 0; t < nT; t++) {
    const j0 = t * tk;
    const nk = min(tk, Lk - j0);
    const n4 = up4(nk);
    const ktj = kt + <usize>t * (<usize>d * rowT);
    const vtj = vt + <usize>t * (<usize>dv * rowT);
    const bj = bias + (<usize>j0 << 2);
    const iStart = isCausal ? max(0, j0 - shift) : 0; // the first query that sees key j0
    for (let i0 = iStart; i0 < Lq; i0 += W) {
      const nq = min(W, Lq - i0);
      const straddle = isCausal && j0 + n4 - 1 > i0 + shift;
      const qi = q + <usize>i0 * rowQ;
      const gi = dout + <usize>i0 * rowV;
      gemm_nn(qi, ktj, st, nq, n4, d, d, tk, tk, 0);
      gemm_nn(gi, vtj, dpt, nq, n4, dv, dv, tk, tk, 0);
      backwardSoftmax(st, dpt, tk, nq, n4, bj, cs, rm + (<usize>i0 << 2), ril + (<usize>i0 << 2),
                      rD + (<usize>i0 << 2), straddle, i0 + shift - j0);
      gemm_tn(st, gi, dvt, nk, dv, nq, tk, dv, dv, 0);
      addInto(dvo + <usize>j0 * rowV, dvt, 1, nk * dv);
      gemm_tn(dpt, qi, dkt, nk, d, nq, tk, d, d, 0);
      addInto(dk + <usize>j0 * rowQ, dkt, scale, nk * d);
      gemm_nn(dpt, k + <usize>j0 * rowQ, dqt, nq, d, nk, tk, d, d, 0);
      addInto(dq + <usize>i0 * rowQ, dqt, scale, nq * d);
    }
  }
}
