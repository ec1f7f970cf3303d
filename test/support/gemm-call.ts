// The GEMM exports read a Gemm descriptor (assembly/descriptors.ts); the tests call them with positional
// arguments through this adapter, which writes the descriptor first.
import { writeGemm } from '../../src/runtime/descriptors.ts';

export type GemmCall = (a: number, b: number, c: number, M: number, N: number, K: number, lda: number, ldb: number, ldc: number, accumulate: number) => void;

/** `kernel` (matmul_*) as a positional call: the descriptor goes to byte address at() of the memory. */
export function positional(memory: () => ArrayBuffer, at: () => number, kernel: (g: number) => void): GemmCall {
  return (a, b, c, M, N, K, lda, ldb, ldc, accumulate) => {
    const g = at();
    writeGemm(new DataView(memory()), g, { a, b, c, M, N, K, lda, ldb, ldc, accumulate });
    kernel(g);
  };
}
