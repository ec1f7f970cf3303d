// The matmul export reads a Gemm descriptor (assembly/descriptors.ts); the tests call its products with positional
// arguments through this adapter, which writes the descriptor first.
import { GEMM_NN, GEMM_NN_PACKED, GEMM_NT, GEMM_TN, GEMM_TN_PACKED, writeGemm } from '../../src/runtime/descriptors.ts';

export type GemmCall = (a: number, b: number, c: number, M: number, N: number, K: number, lda: number, ldb: number, ldc: number, accumulate: number) => void;

/** The products by name: nn, nt, tn and the packed nn_packed, tn_packed. */
export const GEMM_OPS = { nn: GEMM_NN, nt: GEMM_NT, tn: GEMM_TN, nn_packed: GEMM_NN_PACKED, tn_packed: GEMM_TN_PACKED } as const;

/** Product `op` of `matmul` as a positional call: the descriptor goes to byte address at() of the memory. */
export function positional(memory: () => ArrayBuffer, at: () => number, matmul: (g: number) => void, op: keyof typeof GEMM_OPS): GemmCall {
  return (a, b, c, M, N, K, lda, ldb, ldc, accumulate) => {
    const g = at();
    writeGemm(new DataView(memory()), g, { a, b, c, M, N, K, lda, ldb, ldc, accumulate, op: GEMM_OPS[op] });
    matmul(g);
  };
}
