// The GEMM kernels (gemm.ts) as exports reading a Gemm descriptor: for the tests, the benchmark and the learned
// feature maps' per-window products (src/fit/fit-gemm.ts). Kernels inside wasm call gemm.ts directly.
import { Gemm } from '../descriptors';
import { gemm_nn, gemm_nn_packed, gemm_nt, gemm_tn, gemm_tn_packed } from './gemm';

/** C (+)= A·B: g holds a (M × K), b (K × N), c (M × N) and their leading dimensions. */
export function matmul_nn(g: Gemm): void {
  gemm_nn(g.a, g.b, g.c, g.M, g.N, g.K, g.lda, g.ldb, g.ldc, g.accumulate);
}

/** C (+)= A·Bᵀ: b is N × K. */
export function matmul_nt(g: Gemm): void {
  gemm_nt(g.a, g.b, g.c, g.M, g.N, g.K, g.lda, g.ldb, g.ldc, g.accumulate);
}

/** C (+)= Aᵀ·B: a is K × M. */
export function matmul_tn(g: Gemm): void {
  gemm_tn(g.a, g.b, g.c, g.M, g.N, g.K, g.lda, g.ldb, g.ldc, g.accumulate);
}

/** matmul_nn with b packed by gemm_pack_b (g.ldb unused). */
export function matmul_nn_packed(g: Gemm): void {
  gemm_nn_packed(g.a, g.b, g.c, g.M, g.N, g.K, g.lda, g.ldc, g.accumulate);
}

/** matmul_tn with b packed by gemm_pack_b (g.ldb unused). */
export function matmul_tn_packed(g: Gemm): void {
  gemm_tn_packed(g.a, g.b, g.c, g.M, g.N, g.K, g.lda, g.ldc, g.accumulate);
}
