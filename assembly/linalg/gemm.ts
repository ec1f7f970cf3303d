// Single-precision GEMM on f32x4: C (+)= op(A)·op(B), row-major, leading dimensions in elements.
//
// Each micro-kernel keeps a register block of C in at most 8 f32x4 accumulators: V8 has 16 xmm registers,
// and 12 or more accumulators spill (docs/design.md §4). The kernels allocate no scratch: gemm_nn, gemm_nt and
// gemm_tn read their operands in place, K cut into blocks so that what is read again stays in cache;
// gemm_nn_packed and gemm_tn_packed read a B that the caller packed once (gemm_pack_b, end of the file).
//
// - "splat" kernels (NN and TN): for each k, broadcast A(i, k) and A(i+1, k) and multiply them with
//   B(k, j..j+15): a 2×16 block. NN and TN differ only in how A is walked (byte strides `ra` between rows
//   of op(A), `ka` per k), so they share the kernels. Every element of C is one chain c = madd(a_k, b_k, c)
//   over k in order, started at 0 (or at C when accumulating), whichever kernel computes it (the edge
//   kernels compute in lane 0 of a vector): results depend neither on M, N nor on the K blocks.
// - "dot" kernels (NT): rows of A and B are both contiguous in k, so C(i, j) is a dot product: a 2×4 block
//   of them. Lane l accumulates k ≡ l (mod 4), a K tail (K mod 4) goes into lane 0, and the lanes are added
//   (l0 + l2) + (l1 + l3) (the order of `hsum`). K is cut into blocks of a fixed NT_KC whose sums are added
//   to C: the result depends on K but not on M, N or the position in the blocks.
// In the baseline build madd is a multiply then an add, so results are bit-identical everywhere; the
// relaxed build fuses them (test/linalg/gemm.test.ts checks both, and the documented order bit for bit).
//
// No kernel allocates, grows memory or writes outside C's M×N elements (rows ldc apart). Loads are
// unaligned-safe. M, N, K ≥ 1 (K ≤ 0 gives C = 0, or C unchanged when accumulating) and leading
// dimensions ≥ the row length; A and B must not overlap C.

import { hsum, madd } from './simd';

/** K = 0: the product is an empty sum. C = 0, or C unchanged when accumulating. */
function emptySum(c: usize, M: i32, N: i32, ldc: i32, accumulate: i32): void {
  if (accumulate) return;
  for (let i = 0; i < M; i++) memory.fill(c + <usize>i * (<usize>ldc << 2), 0, <usize>max(N, 0) << 2);
}

// ---------------------------------------------------------------------------------------------------
// Splat micro-kernels (NN, TN). For each k: broadcast A(i, k), A(i+1, k); multiply with B(k, j..j+15).
// pa → A(i, k0); ra = bytes from A(i, k) to A(i+1, k); ka = bytes per k step of A (NN: ra = lda·4, ka = 4;
// TN: ra = 4, ka = lda·4). pb → B(k0, j), kb = bytes per k step of B. pc → C(i, j), rc = bytes per row of C.
// kc ≥ 1 steps of k. acc: start from C, else from 0.

/** C(i..i+1, j..j+15): 8 accumulators, 4 B vectors, 2 splats (15 of the 16 xmm registers). */
@inline function splat2x16(pa: usize, ra: usize, ka: usize, pb: usize, kb: usize, pc: usize, rc: usize, kc: i32, acc: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0), c03 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0), c13 = f32x4.splat(0);
  if (acc) {
    c00 = v128.load(pc); c01 = v128.load(pc, 16); c02 = v128.load(pc, 32); c03 = v128.load(pc, 48);
    c10 = v128.load(pc + rc); c11 = v128.load(pc + rc, 16); c12 = v128.load(pc + rc, 32); c13 = v128.load(pc + rc, 48);
  }
  let pa1 = pa + ra;
  const end = pb + <usize>kc * kb;
  do {
    const s0 = v128.load32_splat(pa), s1 = v128.load32_splat(pa1);
    let b = v128.load(pb);
    c00 = madd(s0, b, c00); c10 = madd(s1, b, c10);
    b = v128.load(pb, 16);
    c01 = madd(s0, b, c01); c11 = madd(s1, b, c11);
    b = v128.load(pb, 32);
    c02 = madd(s0, b, c02); c12 = madd(s1, b, c12);
    b = v128.load(pb, 48);
    c03 = madd(s0, b, c03); c13 = madd(s1, b, c13);
    pa += ka;
    pa1 += ka;
    pb += kb;
  } while (pb != end);
  v128.store(pc, c00); v128.store(pc, c01, 16); v128.store(pc, c02, 32); v128.store(pc, c03, 48);
  v128.store(pc + rc, c10); v128.store(pc + rc, c11, 16); v128.store(pc + rc, c12, 32); v128.store(pc + rc, c13, 48);
}

/** C(i..i+1, j..j+3) (column edges). */
@inline function splat2x4(pa: usize, ra: usize, ka: usize, pb: usize, kb: usize, pc: usize, rc: usize, kc: i32, acc: bool): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0);
  if (acc) { c0 = v128.load(pc); c1 = v128.load(pc + rc); }
  let pa1 = pa + ra;
  const end = pb + <usize>kc * kb;
  do {
    const b = v128.load(pb);
    c0 = madd(v128.load32_splat(pa), b, c0);
    c1 = madd(v128.load32_splat(pa1), b, c1);
    pa += ka;
    pa1 += ka;
    pb += kb;
  } while (pb != end);
  v128.store(pc, c0); v128.store(pc + rc, c1);
}

/** C(i, j..j+15) (the last row when M is odd). */
@inline function splat1x16(pa: usize, ka: usize, pb: usize, kb: usize, pc: usize, kc: i32, acc: bool): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  if (acc) { c0 = v128.load(pc); c1 = v128.load(pc, 16); c2 = v128.load(pc, 32); c3 = v128.load(pc, 48); }
  const end = pb + <usize>kc * kb;
  do {
    const s = v128.load32_splat(pa);
    c0 = madd(s, v128.load(pb), c0);
    c1 = madd(s, v128.load(pb, 16), c1);
    c2 = madd(s, v128.load(pb, 32), c2);
    c3 = madd(s, v128.load(pb, 48), c3);
    pa += ka;
    pb += kb;
  } while (pb != end);
  v128.store(pc, c0); v128.store(pc, c1, 16); v128.store(pc, c2, 32); v128.store(pc, c3, 48);
}

/** C(i, j..j+3). */
@inline function splat1x4(pa: usize, ka: usize, pb: usize, kb: usize, pc: usize, kc: i32, acc: bool): void {
  let c0 = f32x4.splat(0);
  if (acc) c0 = v128.load(pc);
  const end = pb + <usize>kc * kb;
  do {
    c0 = madd(v128.load32_splat(pa), v128.load(pb), c0);
    pa += ka;
    pb += kb;
  } while (pb != end);
  v128.store(pc, c0);
}

/** C(i, j) (corner edges), in lane 0 of a vector so that it rounds exactly like the lanes above. */
@inline function splat1x1(pa: usize, ka: usize, pb: usize, kb: usize, pc: usize, kc: i32, acc: bool): void {
  let c0 = f32x4.splat(0);
  if (acc) c0 = v128.load32_zero(pc);
  const end = pb + <usize>kc * kb;
  do {
    c0 = madd(v128.load32_zero(pa), v128.load32_zero(pb), c0);
    pa += ka;
    pb += kb;
  } while (pb != end);
  v128.store32_lane(pc, c0, 0);
}

/**
 * One K block of C (+)= Ã·B, where Ã(i, k) is at a + i·ra + k·ka (bytes): row pairs × 16 columns, then
 * the edges. B's 16-column strips start at `strips`, stripStep bytes apart, with sk bytes per k step (in
 * place: stripStep = 64 and sk = the row stride; packed: the panel size and 64); its N mod 16 edge columns
 * start at `edge`, ke bytes per k step. Not inlined: V8 allocates registers per function, and the kernels
 * keep all 16 xmm registers busy only when nothing else is live around them.
 */
function splatBlock(a: usize, ra: usize, ka: usize, strips: usize, stripStep: usize, sk: usize, edge: usize, ke: usize,
                    c: usize, rc: usize, M: i32, N: i32, kc: i32, acc: bool): void {
  const M2 = M & ~1;
  const N16 = N & ~15;
  const N4 = N & ~3;
  let i = 0;
  for (; i < M2; i += 2) {
    const pa = a + <usize>i * ra;
    const pc = c + <usize>i * rc;
    let j = 0;
    for (let p = strips; j < N16; j += 16, p += stripStep) splat2x16(pa, ra, ka, p, sk, pc + (<usize>j << 2), rc, kc, acc);
    for (; j < N4; j += 4) splat2x4(pa, ra, ka, edge + (<usize>(j - N16) << 2), ke, pc + (<usize>j << 2), rc, kc, acc);
    for (; j < N; j++) {
      splat1x1(pa, ka, edge + (<usize>(j - N16) << 2), ke, pc + (<usize>j << 2), kc, acc);
      splat1x1(pa + ra, ka, edge + (<usize>(j - N16) << 2), ke, pc + rc + (<usize>j << 2), kc, acc);
    }
  }
  if (i < M) {
    const pa = a + <usize>i * ra;
    const pc = c + <usize>i * rc;
    let j = 0;
    for (let p = strips; j < N16; j += 16, p += stripStep) splat1x16(pa, ka, p, sk, pc + (<usize>j << 2), kc, acc);
    for (; j < N4; j += 4) splat1x4(pa, ka, edge + (<usize>(j - N16) << 2), ke, pc + (<usize>j << 2), kc, acc);
    for (; j < N; j++) splat1x1(pa, ka, edge + (<usize>(j - N16) << 2), ke, pc + (<usize>j << 2), kc, acc);
  }
}

/**
 * C (+)= Ã·B, K cut into blocks of kcMax so that what a row pair reads again (the B block, and for TN the
 * A rows) stays in cache. That changes nothing in the arithmetic: each element's chain is only stored to
 * C and reloaded between blocks.
 */
@inline function splatGemm(a: usize, ra: usize, ka: usize, b: usize, c: usize, M: i32, N: i32, K: i32, ldb: i32, ldc: i32, accumulate: i32, kcMax: i32): void {
  const kb = <usize>ldb << 2;
  const edge = b + (<usize>(N & ~15) << 2);
  for (let k0 = 0; k0 < K; k0 += kcMax) {
    splatBlock(a + <usize>k0 * ka, ra, ka, b + <usize>k0 * kb, 64, kb, edge + <usize>k0 * kb, kb, c, <usize>ldc << 2,
               M, N, min(kcMax, K - k0), accumulate != 0 || k0 > 0);
  }
}

// K blocks, measured on the benchmark shapes (the results do not depend on them): NN keeps a B block of
// about 64 KiB (kc·N floats); TN's A rows are read with a stride of lda, and short blocks (kc = 64–128)
// measured best for M = 256.
@inline function nnKc(N: i32): i32 {
  return max(64, 16384 / N);
}
const TN_KC: i32 = 128;

/**
 * C (+)= A·B. A is M×K (row stride lda), B is K×N (ldb), C is M×N (ldc); a, b, c are byte addresses.
 * accumulate = 0: C = A·B (C is not read, so garbage or NaN in it is harmless); 1: C += A·B.
 * Reads A's M×K and B's K×N elements, writes exactly C's M×N elements. M, N, K ≥ 1.
 */
export function gemm_nn(a: usize, b: usize, c: usize, M: i32, N: i32, K: i32, lda: i32, ldb: i32, ldc: i32, accumulate: i32): void {
  if (K <= 0) return emptySum(c, M, N, ldc, accumulate);
  splatGemm(a, <usize>lda << 2, 4, b, c, M, N, K, ldb, ldc, accumulate, nnKc(N));
}

/**
 * C (+)= Aᵀ·B. A is K×M (row stride lda), B is K×N (ldb), C is M×N (ldc); a, b, c are byte addresses.
 * accumulate = 0: C = Aᵀ·B (C is not read); 1: C += Aᵀ·B. Writes exactly C's M×N elements. M, N, K ≥ 1.
 */
export function gemm_tn(a: usize, b: usize, c: usize, M: i32, N: i32, K: i32, lda: i32, ldb: i32, ldc: i32, accumulate: i32): void {
  if (K <= 0) return emptySum(c, M, N, ldc, accumulate);
  splatGemm(a, 4, <usize>lda << 2, b, c, M, N, K, ldb, ldc, accumulate, TN_KC);
}

// ---------------------------------------------------------------------------------------------------
// Dot micro-kernels (NT). pa → A(i, k0) with rows ra bytes apart; pb → B(j, k0) with rows rb bytes apart;
// pc → C(i, j), rc bytes per C row. kc ≥ 1 elements of k; acc: add the block's sums to C, else store them.

/** Lanes (l0 + l2) + (l1 + l3) of x, y, z, w, as one vector [Σx, Σy, Σz, Σw] (the order of `hsum`). */
@inline function reduce4(x: v128, y: v128, z: v128, w: v128): v128 {
  const xy = f32x4.add(v128.shuffle<f32>(x, y, 0, 4, 1, 5), v128.shuffle<f32>(x, y, 2, 6, 3, 7)); // x0+x2 y0+y2 x1+x3 y1+y3
  const zw = f32x4.add(v128.shuffle<f32>(z, w, 0, 4, 1, 5), v128.shuffle<f32>(z, w, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(xy, zw, 0, 1, 4, 5), v128.shuffle<f32>(xy, zw, 2, 3, 6, 7));
}

/** 2 rows of A against 4 rows of B: C(i..i+1, j..j+3), 8 accumulators; one pointer per row streamed. */
@inline function dot2x4(pa: usize, ra: usize, pb: usize, rb: usize, pc: usize, rc: usize, kc: i32, acc: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0), c03 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0), c13 = f32x4.splat(0);
  let pa1 = pa + ra, pb1 = pb + rb, pb2 = pb + 2 * rb, pb3 = pb + 3 * rb;
  const end = pa + (<usize>kc << 2);
  const end4 = pa + (<usize>(kc & ~3) << 2);
  while (pa != end4) {
    const a0 = v128.load(pa), a1 = v128.load(pa1);
    let b = v128.load(pb);
    c00 = madd(a0, b, c00); c10 = madd(a1, b, c10);
    b = v128.load(pb1);
    c01 = madd(a0, b, c01); c11 = madd(a1, b, c11);
    b = v128.load(pb2);
    c02 = madd(a0, b, c02); c12 = madd(a1, b, c12);
    b = v128.load(pb3);
    c03 = madd(a0, b, c03); c13 = madd(a1, b, c13);
    pa += 16; pa1 += 16; pb += 16; pb1 += 16; pb2 += 16; pb3 += 16;
  }
  while (pa != end) { // K tail, in lane 0
    const a0 = v128.load32_zero(pa), a1 = v128.load32_zero(pa1);
    let b = v128.load32_zero(pb);
    c00 = madd(a0, b, c00); c10 = madd(a1, b, c10);
    b = v128.load32_zero(pb1);
    c01 = madd(a0, b, c01); c11 = madd(a1, b, c11);
    b = v128.load32_zero(pb2);
    c02 = madd(a0, b, c02); c12 = madd(a1, b, c12);
    b = v128.load32_zero(pb3);
    c03 = madd(a0, b, c03); c13 = madd(a1, b, c13);
    pa += 4; pa1 += 4; pb += 4; pb1 += 4; pb2 += 4; pb3 += 4;
  }
  let r0 = reduce4(c00, c01, c02, c03);
  let r1 = reduce4(c10, c11, c12, c13);
  if (acc) {
    r0 = f32x4.add(v128.load(pc), r0);
    r1 = f32x4.add(v128.load(pc + rc), r1);
  }
  v128.store(pc, r0);
  v128.store(pc + rc, r1);
}

/** 1 row of A against 4 rows of B: C(i, j..j+3) (the last row when M is odd). */
@inline function dot1x4(pa: usize, pb: usize, rb: usize, pc: usize, kc: i32, acc: bool): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  let pb1 = pb + rb, pb2 = pb + 2 * rb, pb3 = pb + 3 * rb;
  const end = pa + (<usize>kc << 2);
  const end4 = pa + (<usize>(kc & ~3) << 2);
  while (pa != end4) {
    const a = v128.load(pa);
    c0 = madd(a, v128.load(pb), c0);
    c1 = madd(a, v128.load(pb1), c1);
    c2 = madd(a, v128.load(pb2), c2);
    c3 = madd(a, v128.load(pb3), c3);
    pa += 16; pb += 16; pb1 += 16; pb2 += 16; pb3 += 16;
  }
  while (pa != end) {
    const a = v128.load32_zero(pa);
    c0 = madd(a, v128.load32_zero(pb), c0);
    c1 = madd(a, v128.load32_zero(pb1), c1);
    c2 = madd(a, v128.load32_zero(pb2), c2);
    c3 = madd(a, v128.load32_zero(pb3), c3);
    pa += 4; pb += 4; pb1 += 4; pb2 += 4; pb3 += 4;
  }
  let r = reduce4(c0, c1, c2, c3);
  if (acc) r = f32x4.add(v128.load(pc), r);
  v128.store(pc, r);
}

/** One element C(i, j) (column edges), with the same lane split and order as the kernels above. */
@inline function dot1x1(pa: usize, pb: usize, pc: usize, kc: i32, acc: bool): void {
  let c0 = f32x4.splat(0);
  const end = pa + (<usize>kc << 2);
  const end4 = pa + (<usize>(kc & ~3) << 2);
  while (pa != end4) {
    c0 = madd(v128.load(pa), v128.load(pb), c0);
    pa += 16; pb += 16;
  }
  while (pa != end) {
    c0 = madd(v128.load32_zero(pa), v128.load32_zero(pb), c0);
    pa += 4; pb += 4;
  }
  let r = hsum(c0);
  if (acc) r = load<f32>(pc) + r;
  store<f32>(pc, r);
}

/** One K block of gemm_nt: row pairs of A × quads of rows of B, then the edges (not inlined, as splatBlock). */
function dotBlock(a: usize, ra: usize, b: usize, rb: usize, c: usize, rc: usize, M: i32, N: i32, kc: i32, acc: bool): void {
  const M2 = M & ~1;
  const N4 = N & ~3;
  let i = 0;
  for (; i < M2; i += 2) {
    const pa = a + <usize>i * ra;
    const pc = c + <usize>i * rc;
    let j = 0;
    for (; j < N4; j += 4) dot2x4(pa, ra, b + <usize>j * rb, rb, pc + (<usize>j << 2), rc, kc, acc);
    for (; j < N; j++) {
      dot1x1(pa, b + <usize>j * rb, pc + (<usize>j << 2), kc, acc);
      dot1x1(pa + ra, b + <usize>j * rb, pc + rc + (<usize>j << 2), kc, acc);
    }
  }
  if (i < M) {
    const pa = a + <usize>i * ra;
    const pc = c + <usize>i * rc;
    let j = 0;
    for (; j < N4; j += 4) dot1x4(pa, b + <usize>j * rb, rb, pc + (<usize>j << 2), kc, acc);
    for (; j < N; j++) dot1x1(pa, b + <usize>j * rb, pc + (<usize>j << 2), kc, acc);
  }
}

/** K block of gemm_nt. Fixed (a multiple of 4) so that the summation order depends on K only. */
const NT_KC: i32 = 256;

/**
 * C (+)= A·Bᵀ. A is M×K (row stride lda), B is N×K (ldb), C is M×N (ldc); a, b, c are byte addresses.
 * C(i, j) is the dot product of row i of A and row j of B. accumulate = 0: C = A·Bᵀ (C is not read);
 * 1: C += A·Bᵀ. Writes exactly C's M×N elements. M, N, K ≥ 1.
 */
export function gemm_nt(a: usize, b: usize, c: usize, M: i32, N: i32, K: i32, lda: i32, ldb: i32, ldc: i32, accumulate: i32): void {
  if (K <= 0) return emptySum(c, M, N, ldc, accumulate);
  for (let k0 = 0; k0 < K; k0 += NT_KC) {
    dotBlock(a + (<usize>k0 << 2), <usize>lda << 2, b + (<usize>k0 << 2), <usize>ldb << 2, c, <usize>ldc << 2, M, N, min(NT_KC, K - k0), accumulate != 0 || k0 > 0);
  }
}

// ---------------------------------------------------------------------------------------------------
// Packed B (NN, TN). Read in place, a 16-column strip of B is 16 floats per k, rows ldb·4 bytes apart: at
// the FAVOR+ shapes (ldb = 256 or 64 floats) the strip's lines fall into a few L1 sets and evict each
// other. Packed, strip p is a contiguous panel (64 bytes per k) at bp + p·K·64, and the N mod 16 edge
// columns follow as one narrow panel (N mod 16 floats per k). The arithmetic is that of the unpacked
// kernels, element for element: packing changes where B is read, not what is computed. A packed B has
// B's K·N floats.

/** dst = B (K×N, row stride ldb) packed: the 16-wide panels, then the edge panel. dst must not overlap B. */
export function gemm_pack_b(b: usize, K: i32, N: i32, ldb: i32, dst: usize): void {
  const N16 = N & ~15;
  const kb = <usize>ldb << 2;
  let out = dst;
  for (let j = 0; j < N16; j += 16) {
    let src = b + (<usize>j << 2);
    for (let k = 0; k < K; k++) {
      v128.store(out, v128.load(src)); v128.store(out, v128.load(src, 16), 16);
      v128.store(out, v128.load(src, 32), 32); v128.store(out, v128.load(src, 48), 48);
      src += kb;
      out += 64;
    }
  }
  const edgeBytes = <usize>(N - N16) << 2;
  if (!edgeBytes) return;
  let src = b + (<usize>N16 << 2);
  for (let k = 0; k < K; k++) {
    memory.copy(out, src, edgeBytes);
    src += kb;
    out += edgeBytes;
  }
}

/** splatGemm on a packed B. */
@inline function splatGemmPacked(a: usize, ra: usize, ka: usize, bp: usize, c: usize, M: i32, N: i32, K: i32, ldc: i32, accumulate: i32, kcMax: i32): void {
  const N16 = N & ~15;
  const pstride = <usize>K << 6;
  const edge = bp + <usize>(N16 >> 4) * pstride;
  const ke = <usize>(N - N16) << 2;
  for (let k0 = 0; k0 < K; k0 += kcMax) {
    splatBlock(a + <usize>k0 * ka, ra, ka, bp + (<usize>k0 << 6), pstride, 64, edge + <usize>k0 * ke, ke, c, <usize>ldc << 2,
               M, N, min(kcMax, K - k0), accumulate != 0 || k0 > 0);
  }
}

/** gemm_nn with B packed by gemm_pack_b (bp, K×N): the same results, bit for bit. */
export function gemm_nn_packed(a: usize, bp: usize, c: usize, M: i32, N: i32, K: i32, lda: i32, ldc: i32, accumulate: i32): void {
  if (K <= 0) return emptySum(c, M, N, ldc, accumulate);
  splatGemmPacked(a, <usize>lda << 2, 4, bp, c, M, N, K, ldc, accumulate, nnKc(N));
}

/** gemm_tn with B packed by gemm_pack_b (bp, K×N): the same results, bit for bit. */
export function gemm_tn_packed(a: usize, bp: usize, c: usize, M: i32, N: i32, K: i32, lda: i32, ldc: i32, accumulate: i32): void {
  if (K <= 0) return emptySum(c, M, N, ldc, accumulate);
  splatGemmPacked(a, 4, <usize>lda << 2, bp, c, M, N, K, ldc, accumulate, TN_KC);
}

// ---------------------------------------------------------------------------------------------------
// Block-lower products (the masked block of causal attention): only the panels of B that start at or before a
// row are multiplied with it, so about half of a square product is skipped. B is packed, here usually from the
// rows of an X with B = Xᵀ (gemm_pack_bt).

/**
 * dst = Xᵀ packed like gemm_pack_b packs a K×N B, where X is N rows of K (row stride ldx): B(k, j) = X(j, k).
 * 4×4 tiles are transposed in registers. dst must not overlap X.
 */
export function gemm_pack_bt(x: usize, K: i32, N: i32, ldx: i32, dst: usize): void {
  const N16 = N & ~15;
  const K4 = K & ~3;
  const rx = <usize>ldx << 2;
  for (let j = 0; j < N16; j += 16) {
    const panel = dst + <usize>j * (<usize>K << 2); // panel j/16 starts at (j/16)·K·64 bytes
    for (let t = 0; t < 16; t += 4) {
      const r0 = x + <usize>(j + t) * rx, r1 = r0 + rx, r2 = r1 + rx, r3 = r2 + rx;
      let out = panel + (<usize>t << 2);
      let k = 0;
      for (; k < K4; k += 4) {
        const off = <usize>k << 2;
        const a = v128.load(r0 + off), b = v128.load(r1 + off), c = v128.load(r2 + off), d = v128.load(r3 + off);
        const ab01 = v128.shuffle<f32>(a, b, 0, 4, 1, 5), ab23 = v128.shuffle<f32>(a, b, 2, 6, 3, 7);
        const cd01 = v128.shuffle<f32>(c, d, 0, 4, 1, 5), cd23 = v128.shuffle<f32>(c, d, 2, 6, 3, 7);
        v128.store(out, v128.shuffle<f32>(ab01, cd01, 0, 1, 4, 5));
        v128.store(out, v128.shuffle<f32>(ab01, cd01, 2, 3, 6, 7), 64);
        v128.store(out, v128.shuffle<f32>(ab23, cd23, 0, 1, 4, 5), 128);
        v128.store(out, v128.shuffle<f32>(ab23, cd23, 2, 3, 6, 7), 192);
        out += 256;
      }
      for (; k < K; k++) {
        const off = <usize>k << 2;
        store<f32>(out, load<f32>(r0 + off)); store<f32>(out, load<f32>(r1 + off), 4);
        store<f32>(out, load<f32>(r2 + off), 8); store<f32>(out, load<f32>(r3 + off), 12);
        out += 64;
      }
    }
  }
  const w = N - N16;
  const edge = dst + <usize>N16 * (<usize>K << 2);
  for (let t = 0; t < w; t++) {
    const row = x + <usize>(N16 + t) * rx;
    for (let k = 0; k < K; k++) store<f32>(edge + (<usize>(k * w + t) << 2), load<f32>(row + (<usize>k << 2)));
  }
}

/**
 * The block-lower part of C = A·B for a packed B (gemm_pack_b, gemm_pack_bt): C(i, j) for the columns of the
 * panels that start at or before row i (j < 16·⌊i/16⌋ + 16), bit for bit as gemm_nn_packed computes them; C's
 * other elements are not written. One panel at a time against the rows that meet it (K in blocks of LOWER_KC),
 * so that the panel stays in L1 while A streams.
 */
export function gemm_nn_packed_lower(a: usize, bp: usize, c: usize, M: i32, N: i32, K: i32, lda: i32, ldc: i32): void {
  if (K <= 0) {
    for (let i = 0; i < M; i++) memory.fill(c + <usize>i * (<usize>ldc << 2), 0, <usize>min(N, (i & ~15) + 16) << 2);
    return;
  }
  const ra = <usize>lda << 2;
  const rc = <usize>ldc << 2;
  const N16 = N & ~15;
  const pstride = <usize>K << 6;
  const edge = bp + <usize>(N16 >> 4) * pstride;
  const ke = <usize>(N - N16) << 2;
  for (let k0 = 0; k0 < K; k0 += LOWER_KC) {
    const kc = min(LOWER_KC, K - k0);
    const ak = a + (<usize>k0 << 2);
    for (let j = 0; j < N && j < M; j += 16) {
      const pa = ak + <usize>j * ra;
      const pc = c + <usize>j * rc + (<usize>j << 2);
      if (j < N16) splatBlock(pa, ra, 4, bp + <usize>(j >> 4) * pstride + (<usize>k0 << 6), 64, 64, 0, 0, pc, rc, M - j, 16, kc, k0 > 0);
      else splatBlock(pa, ra, 4, 0, 64, 64, edge + <usize>k0 * ke, ke, pc, rc, M - j, N - N16, kc, k0 > 0);
    }
  }
}
const LOWER_KC: i32 = 128;
