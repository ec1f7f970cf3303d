// Structured orthogonal projection (SORF: Yu et al., "Orthogonal Random Features", NeurIPS 2016;
// docs/design.md §2): u = W·x where each d-block of W is diag(R)·Π·H·D₁·Π·H·D₂·Π·H·D₃, H the unnormalized
// Walsh–Hadamard matrix (H² = d·I), Dᵢ diagonal ±1/√d (the normalization folded into the sign steps, so
// every stage is orthonormal and a large input cannot overflow where the GEMM would not), Π the output
// order of the transform below and R the row scales (norm ρ_r times the kernel's d^(-1/4)). O(d log d) per
// block and row instead of the GEMM's O(d²). src/projection/structured.ts draws the tables and
// materializes the same W in float64 (its rows in this output order).
//
// The fast Walsh–Hadamard transform of one row (d = 4·nv floats, nv ≥ 4 vectors of f32x4):
// - vector levels (butterflies between whole vectors nv/2 … 4 apart) in radix-4 passes of 4 vectors in
//   registers, one radix-2 pass first when their count is odd;
// - the last pass takes 4 consecutive vectors: the levels 2 and 1 apart, a 4×4 transpose, then the two
//   in-lane levels as vector butterflies. The transpose is not undone: a position p holds natural
//   output index Π(p), p with its bit fields [1:0] and [3:2] swapped. Since H is a Kronecker power of
//   the 2×2 Hadamard matrix, it commutes with such bit permutations, so Π only reorders W's rows (and
//   which sign multiplies which coordinate), and W is *defined* with its rows in this order.
//
// Memory contract (the projection region, src/feature-maps/features.ts writeProjection): the descriptor follows
// Wᵀ and its packed copy, at desc = wt + 8·d·mp bytes, as f32/i32 words:
//   [0] kind (0 dense GEMM, 1 structured) [1] log₂ d [2] m [3] blocks nb = ⌈m/d⌉,
//   then per block b, at desc + 16 + 16·d·b bytes: D₃[d], D₂[d], D₁[d], R[d] (f32).
// The structured kind requires d ≥ 16 and m ≥ d (the facade writes kind 0 otherwise). A last block
// truncated to t = m − (nb−1)·d rows is computed in full in the row's first d columns, its first t
// outputs copied to their place, then the full blocks overwrite the first columns. Pad columns
// [m, mp) are set to 0. x and u must not overlap; rows ≥ 0.

export const PROJECTION_DENSE: i32 = 0;
export const PROJECTION_STRUCTURED: i32 = 1;
const HEADER_BYTES: usize = 16;

/** The descriptor of the projection region at wt (see the memory contract). */
@inline export function projectionDescriptor(wt: usize, d: i32, mp: i32): usize {
  return wt + (<usize>(2 * d * mp) << 2);
}

/** A vector at `p + off`, times the vector of signs at `sg + off` when sg ≠ 0. */
@inline function loadSigned(p: usize, sg: usize, off: usize): v128 {
  const v = v128.load(p + off);
  return sg ? f32x4.mul(v, v128.load(sg + off)) : v;
}

/** One butterfly level between vectors h apart: (a, b) → (a + b, a − b); src → dst, signs on load. */
function radix2Pass(src: usize, dst: usize, sg: usize, nv: i32, h: i32): void {
  const hb = <usize>h << 4;
  for (let blk = 0; blk < nv; blk += 2 * h) {
    for (let i = blk; i < blk + h; i++) {
      const o = <usize>i << 4;
      const a = loadSigned(src, sg, o);
      const b = loadSigned(src, sg, o + hb);
      v128.store(dst + o, f32x4.add(a, b));
      v128.store(dst + o + hb, f32x4.sub(a, b));
    }
  }
}

/** Two butterfly levels, vectors 2h then h apart, on 4 vectors in registers; src → dst, signs on load. */
function radix4Pass(src: usize, dst: usize, sg: usize, nv: i32, h: i32): void {
  const hb = <usize>h << 4;
  for (let blk = 0; blk < nv; blk += 4 * h) {
    for (let i = blk; i < blk + h; i++) {
      const o = <usize>i << 4;
      const v0 = loadSigned(src, sg, o);
      const v1 = loadSigned(src, sg, o + hb);
      const v2 = loadSigned(src, sg, o + 2 * hb);
      const v3 = loadSigned(src, sg, o + 3 * hb);
      const a0 = f32x4.add(v0, v2), a2 = f32x4.sub(v0, v2);
      const a1 = f32x4.add(v1, v3), a3 = f32x4.sub(v1, v3);
      v128.store(dst + o, f32x4.add(a0, a1));
      v128.store(dst + o + hb, f32x4.sub(a0, a1));
      v128.store(dst + o + 2 * hb, f32x4.add(a2, a3));
      v128.store(dst + o + 3 * hb, f32x4.sub(a2, a3));
    }
  }
}

/**
 * The last four levels on 4 consecutive vectors v0…v3 (stored at dst): vectors 2 and 1 apart, a 4×4
 * transpose, lanes 2 and 1 apart (now vectors). Output in the order Π (file comment), times the 4 vectors
 * at `scale` when scale ≠ 0.
 */
@inline function laneGroup(v0: v128, v1: v128, v2: v128, v3: v128, dst: usize, scale: usize): void {
  const a0 = f32x4.add(v0, v2), a2 = f32x4.sub(v0, v2);
  const a1 = f32x4.add(v1, v3), a3 = f32x4.sub(v1, v3);
  const b0 = f32x4.add(a0, a1), b1 = f32x4.sub(a0, a1);
  const b2 = f32x4.add(a2, a3), b3 = f32x4.sub(a2, a3);
  // 4×4 transpose: t_k lane l = b_l lane k
  const lo01 = v128.shuffle<f32>(b0, b1, 0, 4, 1, 5), hi01 = v128.shuffle<f32>(b0, b1, 2, 6, 3, 7);
  const lo23 = v128.shuffle<f32>(b2, b3, 0, 4, 1, 5), hi23 = v128.shuffle<f32>(b2, b3, 2, 6, 3, 7);
  const t0 = v128.shuffle<f32>(lo01, lo23, 0, 1, 4, 5), t1 = v128.shuffle<f32>(lo01, lo23, 2, 3, 6, 7);
  const t2 = v128.shuffle<f32>(hi01, hi23, 0, 1, 4, 5), t3 = v128.shuffle<f32>(hi01, hi23, 2, 3, 6, 7);
  const c0 = f32x4.add(t0, t2), c2 = f32x4.sub(t0, t2);
  const c1 = f32x4.add(t1, t3), c3 = f32x4.sub(t1, t3);
  let e0 = f32x4.add(c0, c1), e1 = f32x4.sub(c0, c1);
  let e2 = f32x4.add(c2, c3), e3 = f32x4.sub(c2, c3);
  if (scale) {
    e0 = f32x4.mul(e0, v128.load(scale));
    e1 = f32x4.mul(e1, v128.load(scale, 16));
    e2 = f32x4.mul(e2, v128.load(scale, 32));
    e3 = f32x4.mul(e3, v128.load(scale, 48));
  }
  v128.store(dst, e0);
  v128.store(dst, e1, 16);
  v128.store(dst, e2, 32);
  v128.store(dst, e3, 48);
}

/** laneGroup on each group of 4 consecutive vectors; src → dst, signs on load. */
function lanePass(src: usize, dst: usize, sg: usize, scale: usize, nv: i32): void {
  for (let g = 0; g < nv; g += 4) {
    const o = <usize>g << 4;
    laneGroup(loadSigned(src, sg, o), loadSigned(src, sg, o + 16), loadSigned(src, sg, o + 32), loadSigned(src, sg, o + 48),
              dst + o, scale ? scale + o : 0);
  }
}

/** The whole transform for d = 32 (8 vectors) in registers: the level 4 vectors apart, then laneGroup on each half. */
function fwht8(src: usize, dst: usize, sg: usize, scale: usize): void {
  const v0 = loadSigned(src, sg, 0), v1 = loadSigned(src, sg, 16), v2 = loadSigned(src, sg, 32), v3 = loadSigned(src, sg, 48);
  const v4 = loadSigned(src, sg, 64), v5 = loadSigned(src, sg, 80), v6 = loadSigned(src, sg, 96), v7 = loadSigned(src, sg, 112);
  laneGroup(f32x4.add(v0, v4), f32x4.add(v1, v5), f32x4.add(v2, v6), f32x4.add(v3, v7), dst, scale);
  laneGroup(f32x4.sub(v0, v4), f32x4.sub(v1, v5), f32x4.sub(v2, v6), f32x4.sub(v3, v7), dst + 64, scale ? scale + 64 : 0);
}

/** dst = Π·H·diag(sg)·src (d = 4·nv, nv ≥ 4 a power of two), times `scale` when ≠ 0. dst may equal src. */
function fwht(src: usize, dst: usize, sg: usize, scale: usize, nv: i32): void {
  if (nv == 8) {
    fwht8(src, dst, sg, scale);
    return;
  }
  let h = nv >> 1;
  let levels = 31 - clz(nv) - 2; // vector levels above the lane pass
  if (levels & 1) {
    radix2Pass(src, dst, sg, nv, h);
    src = dst;
    sg = 0;
    h >>= 1;
    levels--;
  }
  for (; levels > 0; levels -= 2) {
    radix4Pass(src, dst, sg, nv, h >> 1);
    src = dst;
    sg = 0;
    h >>= 2;
  }
  lanePass(src, dst, sg, scale, nv);
}

/** One d-block of one row: dst (d floats) = diag(R)·Π·H·D₁·Π·H·D₂·Π·H·D₃·x. */
@inline function block(x: usize, dst: usize, tables: usize, d: i32): void {
  const nv = d >> 2;
  const step = <usize>d << 2;
  fwht(x, dst, tables, 0, nv);
  fwht(dst, dst, tables + step, 0, nv);
  fwht(dst, dst, tables + 2 * step, tables + 3 * step, nv);
}

/** u = W·x for `rows` rows of x (rows × d) into u (rows × mp), W described at `desc` (memory contract above). */
export function project_structured(x: usize, rows: i32, d: i32, desc: usize, mp: i32, u: usize): void {
  const m = load<i32>(desc, 8);
  const nb = load<i32>(desc, 12);
  const tables = desc + HEADER_BYTES;
  const blockBytes = <usize>(4 * d) << 2;
  const last = nb - 1;
  const tail = m - last * d; // rows of the last block, 1 … d
  const full = tail == d ? nb : last;
  for (let i = 0; i < rows; i++) {
    const xrow = x + (<usize>(i * d) << 2);
    const urow = u + (<usize>(i * mp) << 2);
    if (full < nb) { // the truncated block first, in the columns the full blocks overwrite next
      block(xrow, urow, tables + <usize>last * blockBytes, d);
      memory.copy(urow + (<usize>(last * d) << 2), urow, <usize>tail << 2);
    }
    for (let b = 0; b < full; b++) {
      block(xrow, urow + (<usize>(b * d) << 2), tables + <usize>b * blockBytes, d);
    }
    memory.fill(urow + (<usize>m << 2), 0, <usize>(mp - m) << 2);
  }
}
