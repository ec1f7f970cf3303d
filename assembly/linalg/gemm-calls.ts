// The GEMM kernels (gemm.ts) as one export reading a Gemm descriptor: for the tests, the benchmark and the learned
// feature maps' per-window products (src/fit/fit-gemm.ts). Kernels inside wasm call gemm.ts directly.
import { Gemm, GEMM_NN, GEMM_NN_PACKED, GEMM_NT, GEMM_TN } from '../descriptors';
import { gemm_nn, gemm_nn_packed, gemm_nt, gemm_tn, gemm_tn_packed } from './gemm';

/** C (+)= op(A)·op(B) as g.op says: g holds a, b, c, their sizes and leading dimensions (assembly/descriptors.ts). */
export function matmul(g: Gemm): void {
  const op = g.op;
  if (op == GEMM_NN) gemm_nn(g.a, g.b, g.c, g.M, g.N, g.K, g.lda, g.ldb, g.ldc, g.accumulate);
  else if (op == GEMM_NT) gemm_nt(g.a, g.b, g.c, g.M, g.N, g.K, g.lda, g.ldb, g.ldc, g.accumulate);
  else if (op == GEMM_TN) gemm_tn(g.a, g.b, g.c, g.M, g.N, g.K, g.lda, g.ldb, g.ldc, g.accumulate);
  else if (op == GEMM_NN_PACKED) gemm_nn_packed(g.a, g.b, g.c, g.M, g.N, g.K, g.lda, g.ldc, g.accumulate);
  else gemm_tn_packed(g.a, g.b, g.c, g.M, g.N, g.K, g.lda, g.ldc, g.accumulate);
}
