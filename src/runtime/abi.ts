// The raw exports of the wasm module (assembly/index.ts). Pointers are byte addresses in linear
// memory; sizes are element counts; every matrix is f32, row-major, with the leading dimension given.
import type { WasmMemory } from './platform-types.ts';
export interface KernelExports {
  readonly memory: WasmMemory;
  /** First byte above static data. */
  heapBase(): number;

  /** dst[i] = e^src[i], or (base2 = 1) 2^src[i] for src[i] ≤ 0, i < n (assembly/linalg/math.ts; for tests). */
  vexp(src: number, dst: number, n: number, base2: number): void;

  /** C (+)= A·B: A M×K (lda), B K×N (ldb), C M×N (ldc). accumulate 0: C = A·B; 1: C += A·B. */
  gemm_nn(a: number, b: number, c: number, M: number, N: number, K: number, lda: number, ldb: number, ldc: number, accumulate: number): void;
  /** C (+)= A·Bᵀ: A M×K, B N×K. */
  gemm_nt(a: number, b: number, c: number, M: number, N: number, K: number, lda: number, ldb: number, ldc: number, accumulate: number): void;
  /** C (+)= Aᵀ·B: A K×M, B K×N. */
  gemm_tn(a: number, b: number, c: number, M: number, N: number, K: number, lda: number, ldb: number, ldc: number, accumulate: number): void;
  /** The largest |x| of n floats at x, as bits (≥ 0x7f800000: a NaN or ±∞ among them). */
  max_abs_bits(x: number, n: number): number;
  /** dst = B (K×N, ldb) packed into 16-column panels then the edge columns (K·N floats). */
  gemm_pack_b(b: number, K: number, N: number, ldb: number, dst: number): void;
  /** gemm_nn with B packed by gemm_pack_b: the same bits. */
  gemm_nn_packed(a: number, bp: number, c: number, M: number, N: number, K: number, lda: number, ldc: number, accumulate: number): void;
  /** gemm_tn with B packed by gemm_pack_b: the same bits. */
  gemm_tn_packed(a: number, bp: number, c: number, M: number, N: number, K: number, lda: number, ldc: number, accumulate: number): void;

  /** Bytes of scratch that exact_attention needs for these sizes. */
  exact_scratch_bytes(Lq: number, Lk: number, d: number, dv: number): number;
  /**
   * One head of softmax(scale·Q·Kᵀ)·V into out (Lq×dv): q Lq×d, k Lk×d, v Lk×dv, contiguous.
   * causal: query i sees keys j ≤ i + (Lk − Lq). mask: 0 for none, else Lk bytes, nonzero = keep.
   * A query that sees no key gets zeros.
   */
  exact_attention(q: number, k: number, v: number, out: number, Lq: number, Lk: number, d: number, dv: number,
                  scale: number, causal: number, mask: number, scratch: number): void;

  /** dst = sin(src), cos(src) for n (a multiple of 4) values (test helper of the trig features). */
  vsincos(src: number, sinDst: number, cosDst: number, n: number): void;

  // FAVOR+ (assembly/favor/favor.ts, assembly/feature-maps/features.ts): kind ids in src/feature-maps/kernels.ts; see the wasm doc comments.
  /** u = X·Wᵀ; wt → Wᵀ, its packed copy and the projection descriptor, dense or structured (features.ts writeProjection), or 0. */
  project_rows(x: number, rows: number, d: number, wt: number, mp: number, u: number): void;
  feature_row_stats(kind: number, x: number, u: number, rows: number, d: number, m: number, mp: number,
                    hScale: number, h: number, top: number): void;
  feature_map(kind: number, u: number, rows: number, m: number, mp: number, h: number, c: number,
              a: number, eps: number, phi: number): void;
  favor_accumulate(kind: number, k: number, v: number, rows: number, d: number, dv: number, wt: number, m: number, mp: number,
                   hScale: number, a: number, eps: number, mask: number,
                   u: number, phi: number, h: number, top: number, c: number, tmpS: number, colSum: number,
                   S: number, z: number, run: number): void;
  favor_state_to_f32(S: number, z: number, S32: number, z32: number, Mp: number, dv: number): void;
  favor_readout(kind: number, q: number, rows: number, d: number, dv: number, wt: number, m: number, mp: number,
                hScale: number, a: number, eps: number,
                u: number, phi: number, h: number, top: number, c: number, S32: number, z32: number, out: number): void;
  favor_causal_chunk(kind: number, q: number, k: number, v: number, rows: number, d: number, dv: number, wt: number, m: number, mp: number,
                     hScale: number, a: number, eps: number, mask: number,
                     u: number, phiQ: number, phiK: number, h: number, top: number, cK: number, den: number, A: number,
                     S32: number, z32: number, out: number, S: number, z: number, run: number): void;
  decoder_step(kind: number, q: number, k: number, v: number, count: number, d: number, dv: number, wt: number, m: number, mp: number,
               hScale: number, a: number, eps: number,
               u: number, phiQ: number, phiK: number, h: number, top: number, cRow: number, vd: number, acc: number,
               S: number, z: number, run: number, out: number): void;

  // hybrid attention: exact local window + FAVOR+ (assembly/hybrid/window.ts)
  /** Floats per row of the window tiles (Lg, G) for window w; a tile has 16 rows. */
  window_tile_stride(w: number): number;
  window_bidirectional_chunk(kind: number, q: number, kb: number, vb: number, maskB: number, rows: number, nb: number,
                             d: number, dv: number, wt: number, m: number, mp: number, hScale: number, a: number, eps: number,
                             cK: number, S32: number, z32: number,
                             u: number, h: number, top: number, hK: number, cRow: number, phiQ: number, phiK: number,
                             den: number, Lg: number, G: number, kb0: number, Lk: number, pFirst: number, w: number, beta: number, keep: number, from: number,
                             out: number): void;
  window_causal_chunk(kind: number, q: number, kLag: number, vLag: number, maskLag: number,
                      kb: number, vb: number, maskB: number, rows: number, nb: number,
                      d: number, dv: number, wt: number, m: number, mp: number, hScale: number, a: number, eps: number,
                      u: number, phiQ: number, phiK: number, h: number, top: number, cK: number, den: number, A: number,
                      S32: number, z32: number, Lg: number, G: number, kb0: number, pFirst: number, w: number, beta: number,
                      out: number, S: number, z: number, run: number): void;

  /** decoder_step with the exact window (assembly/hybrid/ring.ts): rings of the last w + 1 keys, t the position. */
  window_decoder_step(kind: number, q: number, k: number, v: number, count: number, d: number, dv: number, wt: number, m: number, mp: number,
                      hScale: number, a: number, eps: number,
                      u: number, phiQ: number, phiK: number, h: number, top: number, cRow: number, vd: number, acc: number,
                      den: number, Lg: number, G: number, kLag: number, vLag: number, ringK: number, ringV: number, w: number, beta: number, t: number,
                      S: number, z: number, run: number, out: number): void;

  /** Backward of one bidirectional hybrid chunk (assembly/hybrid/window-backward.ts: its memory contract). */
  window_backward_chunk(kind: number, q: number, dOut: number, kb: number, vb: number, maskB: number, rows: number, nb: number,
                        d: number, dv: number, wt: number, m: number, mp: number, hScale: number, a: number, eps: number,
                        cK: number, S32: number, z32: number,
                        u: number, h: number, top: number, hK: number, cRow: number, phiQ: number, phiK: number,
                        den: number, Lg: number, G: number, E: number, tRow: number, fsRow: number,
                        gU: number, gam: number, dnum: number, dden: number, dphiQ: number, dphiK: number, du: number, dh: number,
                        tmpS: number, colSum: number, dS: number, dz: number,
                        kb0: number, Lk: number, pFirst: number, w: number, beta: number,
                        out: number, dq: number, dqx: number, dkx: number, dkb: number, dvb: number): void;

  /** Causal hybrid backward, forward sweep, one chunk (assembly/hybrid/window-backward.ts: its memory contract). */
  window_causal_backward_forward(kind: number, q: number, dOut: number, kLag: number, vLag: number, maskLag: number,
                                 kb: number, vb: number, maskB: number, rows: number, nb: number,
                                 d: number, dv: number, wt: number, m: number, mp: number, hScale: number, a: number, eps: number,
                                 u: number, phiQ: number, phiK: number, h: number, top: number, cK: number, den: number, A: number,
                                 S32: number, z32: number, Lg: number, G: number, E: number, tRow: number, fsRow: number,
                                 gU: number, gam: number, dnum: number, dden: number, dphiQ: number, du: number, dh: number, Bq: number,
                                 kb0: number, pFirst: number, w: number, beta: number, out: number, S: number, z: number, run: number,
                                 dq: number, dqx: number, dkb: number, dvb: number): void;

  // whole-head drivers for the thread pool (assembly/threads/heads.ts)
  state_clear(S: number, z: number, run: number, Mp: number, dv: number): void;
  state_merge(Sa: number, za: number, runA: number, Sb: number, zb: number, runB: number, Mp: number, dv: number): void;

  // FAVOR+ backward (assembly/favor/backward.ts)
  favor_backward_queries(kind: number, q: number, dOut: number, rows: number, d: number, dv: number, wt: number, m: number, mp: number,
                         hScale: number, a: number, eps: number, S32: number, z32: number,
                         u: number, phi: number, h: number, top: number, dphi: number, du: number, dh: number,
                         dnum: number, dden: number, tmpS: number, colSum: number, dS: number, dz: number, dq: number): void;
  favor_backward_keys(kind: number, k: number, v: number, mask: number, rows: number, d: number, dv: number, wt: number, m: number, mp: number,
                      hScale: number, a: number, eps: number, dS32: number, dz32: number, cRow: number,
                      u: number, phi: number, h: number, top: number, dphi: number, du: number, dh: number, dk: number, dvOut: number): void;
  favor_causal_backward_forward(kind: number, q: number, k: number, v: number, dOut: number, rows: number, d: number, dv: number,
                                wt: number, m: number, mp: number, hScale: number, a: number, eps: number, mask: number,
                                u: number, phiQ: number, phiK: number, h: number, top: number, cK: number, den: number, A: number,
                                S32: number, z32: number, out: number, S: number, z: number, run: number,
                                dphi: number, du: number, dh: number, B: number, dnum: number, dden: number, dq: number): void;
  favor_causal_backward_reverse(kind: number, q: number, k: number, v: number, rows: number, d: number, dv: number,
                                wt: number, m: number, mp: number, hScale: number, a: number, eps: number, mask: number,
                                u: number, phiQ: number, phiK: number, h: number, top: number, cK: number, A: number, B: number,
                                dnum: number, dden: number, dphi: number, du: number, dh: number,
                                R: number, r: number, rho: number, R32: number, r32: number, tmpK: number, tmpV: number,
                                colSum: number, dk: number, dvOut: number): void;
  suffix_to_state_grad(R: number, r: number, rho: number, c: number, dS32: number, dz32: number, Mp: number, dv: number): void;

  /** dx (and du = ∂loss/∂u) from dφ through the feature map (assembly/favor/backward.ts). */
  feature_backward(kind: number, x: number, u: number, phi: number, dphi: number, rows: number, d: number, m: number, mp: number,
                   hScale: number, a: number, eps: number, c: number, wt: number, du: number, dh: number, dx: number): void;
  /** acc (f64, mp × d) += duᵀ·x: the projection's gradient of one chunk (assembly/feature-maps/projection-grad.ts); tmp: mp × d f32. */
  projection_gradient(du: number, x: number, rows: number, d: number, mp: number, tmp: number, acc: number): void;
  // gradients of exact attention (assembly/exact/exact-backward.ts)
  /** Bytes of scratch that exact_attention_backward needs (usize: read it with `>>> 0`). */
  exact_backward_scratch_bytes(Lq: number, Lk: number, d: number, dv: number): number;
  /**
   * One head: dq (Lq×d), dk (Lk×d), dv (Lk×dv) = the vector–Jacobian products of softmax(scale·Q·Kᵀ)·V with
   * dout (Lq×dv). causal and mask as in exact_attention. Outputs are overwritten and must not overlap anything.
   */
  exact_attention_backward(q: number, k: number, v: number, dout: number, dq: number, dk: number, dvOut: number,
                           Lq: number, Lk: number, d: number, dv: number, scale: number, causal: number, mask: number,
                           scratch: number): void;
}
