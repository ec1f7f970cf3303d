// The per-window matrix products of fitFeatureMap in wasm (float32 GEMMs, assembly/linalg/gemm.ts):
//   D = Φ_Q·Φ_Kᵀ (the estimated weights before their scales), dΦ_Q = G·Φ_K and dΦ_K = Gᵀ·Φ_Q (G = ∂loss/∂D).
// Φ_Q, Φ_K are rows × M as FavorAttention.features returns them. The runtime's scratch holds the operands
// for the duration of one call.
import { checkWorkspaceBytes } from '../runtime/heap.ts';
import { GEMM_BYTES, GEMM_NN, GEMM_NT, GEMM_TN, writeGemm } from '../runtime/descriptors.ts';
import { runtime, type Runtime } from '../runtime/wasm.ts';
import { planWorkspace } from '../runtime/workspace.ts';

function operands(rows: number, M: number) {
  const rt = runtime();
  const plan = planWorkspace({ q: rows * M, k: rows * M, g: rows * rows, dq: rows * M, dk: rows * M, gemm: GEMM_BYTES / 4 });
  checkWorkspaceBytes(plan.bytes);
  const base = rt.scratch(plan.bytes);
  const at = (region: keyof typeof plan.offsets) => base + plan.offsets[region];
  return { rt, at };
}

/** C = op(A)·op(B) (op: GEMM_NN, GEMM_NT or GEMM_TN) by the matmul export, through the Gemm descriptor at `desc` (contiguous operands). */
function matmul(rt: Runtime, op: number, desc: number, a: number, b: number, c: number, M: number, N: number, K: number): void {
  const lda = op === GEMM_TN ? M : K;
  const ldb = op === GEMM_NT ? K : N;
  writeGemm(rt.data, desc, { a, b, c, M, N, K, lda, ldb, ldc: N, accumulate: 0, op });
  rt.exports.matmul(desc);
}

/** D = Φ_Q·Φ_Kᵀ (rows × rows). */
export function featureDots(phiQ: Float32Array, phiK: Float32Array, rows: number, M: number): Float32Array {
  const { rt, at } = operands(rows, M);
  rt.write(at('q'), phiQ);
  rt.write(at('k'), phiK);
  matmul(rt, GEMM_NT, at('gemm'), at('q'), at('k'), at('g'), rows, rows, M);
  return rt.view(at('g'), rows * rows).slice();
}

/** dΦ_Q = G·Φ_K and dΦ_K = Gᵀ·Φ_Q (rows × M each) for G (rows × rows). */
export function featureDotsBackward(G: Float32Array, phiQ: Float32Array, phiK: Float32Array, rows: number, M: number): { q: Float32Array; k: Float32Array } {
  const { rt, at } = operands(rows, M);
  rt.write(at('q'), phiQ);
  rt.write(at('k'), phiK);
  rt.write(at('g'), G);
  matmul(rt, GEMM_NN, at('gemm'), at('g'), at('k'), at('dq'), rows, M, rows);
  matmul(rt, GEMM_TN, at('gemm'), at('g'), at('q'), at('dk'), rows, M, rows);
  return { q: rt.view(at('dq'), rows * M).slice(), k: rt.view(at('dk'), rows * M).slice() };
}
