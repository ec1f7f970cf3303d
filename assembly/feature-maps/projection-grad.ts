// The gradient of the loss with respect to the projection (learned feature maps, docs/learned-feature-maps.md).
// With u = x·wt for a block of rows (wt = s·Wᵀ, s = d^(-1/4) for the softmax kernels) and G = ∂loss/∂u
// (rows × mp, as feature_backward leaves it in du), ∂loss/∂(s·W) = Gᵀ·X: one GEMM per chunk, O(rows·mp·d).
// The facade multiplies by s once at the end (∂loss/∂W = s·Gᵀ·X).
import { gemm_tn } from '../linalg/gemm';
import { addToF64 } from '../favor/state';

/**
 * acc (f64, mp × d) += Gᵀ·X for G = du (rows × mp, f32, pad columns zero) and X = x (rows × d, f32).
 * tmp (mp × d, f32) is scratch. Rows whose G is zero (masked keys) add nothing.
 */
export function projection_gradient(du: usize, x: usize, rows: i32, d: i32, mp: i32, tmp: usize, acc: usize): void {
  gemm_tn(du, x, tmp, mp, d, rows, mp, d, d, 0);
  addToF64(acc, tmp, mp * d);
}
