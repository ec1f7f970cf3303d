// The per-window matrix products of fitFeatureMap in wasm (float32 GEMMs, assembly/linalg/gemm.ts):
//   D = Φ_Q·Φ_Kᵀ (the estimated weights before their scales), dΦ_Q = G·Φ_K and dΦ_K = Gᵀ·Φ_Q (G = ∂loss/∂D).
// Φ_Q, Φ_K are rows × M as FavorAttention.features returns them. The runtime's scratch holds the operands
// for the duration of one call.
import { checkWorkspaceBytes } from '../runtime/heap.ts';
import { runtime } from '../runtime/wasm.ts';
import { planWorkspace } from '../runtime/workspace.ts';

function operands(rows: number, M: number) {
  const rt = runtime();
  const plan = planWorkspace({ q: rows * M, k: rows * M, g: rows * rows, dq: rows * M, dk: rows * M });
  checkWorkspaceBytes(plan.bytes);
  const base = rt.scratch(plan.bytes);
  const at = (region: keyof typeof plan.offsets) => base + plan.offsets[region];
  return { rt, at };
}

/** D = Φ_Q·Φ_Kᵀ (rows × rows). */
export function featureDots(phiQ: Float32Array, phiK: Float32Array, rows: number, M: number): Float32Array {
  const { rt, at } = operands(rows, M);
  rt.write(at('q'), phiQ);
  rt.write(at('k'), phiK);
  rt.exports.gemm_nt(at('q'), at('k'), at('g'), rows, rows, M, M, M, rows, 0);
  return rt.view(at('g'), rows * rows).slice();
}

/** dΦ_Q = G·Φ_K and dΦ_K = Gᵀ·Φ_Q (rows × M each) for G (rows × rows). */
export function featureDotsBackward(G: Float32Array, phiQ: Float32Array, phiK: Float32Array, rows: number, M: number): { q: Float32Array; k: Float32Array } {
  const { rt, at } = operands(rows, M);
  rt.write(at('q'), phiQ);
  rt.write(at('k'), phiK);
  rt.write(at('g'), G);
  rt.exports.gemm_nn(at('g'), at('k'), at('dq'), rows, M, rows, rows, M, M, 0);
  rt.exports.gemm_tn(at('g'), at('q'), at('dk'), rows, M, rows, rows, M, M, 0);
  return { q: rt.view(at('dq'), rows * M).slice(), k: rt.view(at('dk'), rows * M).slice() };
}
