// The gradient through the feature map alone (FavorAttention.featuresBackward): given ∂loss/∂φ for rows
// of x, ∂loss/∂x and ∂loss/∂W, with φ recomputed exactly as mapFeatures (features.ts) computes it, each
// row stabilized by its own largest exponent. Learned feature maps: docs/learned-feature-maps.md.
import type { Float32Result } from '../arguments/buffers.ts';
import { checkWorkspaceBytes } from '../runtime/heap.ts';
import { featureMapFloats, projectionAddress, writeFeatures, type PreparedFeatures } from './features.ts';
import { GRADIENTS_BYTES, WORKSPACE_BYTES, writeGradients, writeWorkspace } from '../runtime/descriptors.ts';
import { runtime, type Runtime } from '../runtime/wasm.ts';
import { planWorkspace, regionAddresses } from '../runtime/workspace.ts';

export interface FeatureGradients {
  /** ∂loss/∂x, rows × dim. */
  dx: Float32Result;
  /** ∂loss/∂W (m × dim, W acting on x̂), summed over the rows; undefined without a projection. */
  dW?: Float32Result;
}

/**
 * dPhi (rows × M, M = m or 2m as mapFeatures returns φ) is ∂loss/∂phi for the stabilized phi that
 * mapFeatures returns, the loss reading the features as phi·exp(logScale): that is, ∂loss/∂φ_true·exp(logScale).
 * The result accounts for the dependence of the scale on x (φ⊙dφ is invariant to it).
 */
export function featureGradients(f: PreparedFeatures, x: Float32Array, rows: number, dPhi: Float32Array): FeatureGradients {
  const rt = runtime();
  const { dim: d, m, mp, Mp } = f;
  const M = f.map.twoBlock ? 2 * m : m;
  const plan = planWorkspace({
    fm: featureMapFloats(f), ws: WORKSPACE_BYTES / 4, grads: GRADIENTS_BYTES / 4, x: rows * d, u: rows * mp, phi: rows * Mp, dphi: rows * Mp, h: rows, top: rows,
    du: rows * mp, dh: rows, dx: rows * d, dWt: mp * d, dW: 2 * mp * d,
  });
  checkWorkspaceBytes(plan.bytes);
  const base = rt.scratch(plan.bytes);
  const at = (region: keyof typeof plan.offsets) => base + plan.offsets[region];
  const fm = writeFeatures(rt, f, at('fm'));
  const wt = projectionAddress(f, fm);
  rt.write(at('x'), x.subarray(0, rows * d));
  // dφ into the padded layout [block 1 (m of mp) | block 2 (m of mp)], zeros in the pad lanes
  const padded = new Float32Array(rows * Mp);
  for (let i = 0; i < rows; i++) {
    padded.set(dPhi.subarray(i * M, i * M + m), i * Mp);
    if (f.map.twoBlock) padded.set(dPhi.subarray(i * M + m, i * M + 2 * m), i * Mp + mp);
  }
  rt.write(at('dphi'), padded);
  const e = rt.exports;
  e.project_rows(fm, at('x'), rows, at('u'));
  e.feature_row_stats(fm, at('x'), at('u'), rows, at('h'), at('top'));
  e.feature_map(fm, at('u'), rows, at('h'), at('top'), at('phi'));
  const regions = regionAddresses(base, plan.offsets);
  writeWorkspace(rt.data, at('ws'), regions);
  writeGradients(rt.data, at('grads'), { dphi: regions.dphi, du: regions.du, dh: regions.dh, dq: regions.dx });
  e.feature_map_backward(fm, at('ws'), at('grads'), at('x'), rows);
  const dx = rt.view(at('dx'), rows * d).slice();
  if (!wt) return { dx };
  rt.f64.fill(0, at('dW') >>> 3, (at('dW') >>> 3) + mp * d);
  e.projection_gradient(at('du'), at('x'), rows, d, mp, at('dWt'), at('dW'));
  const dW = new Float32Array(m * d);
  readProjectionGradient(rt, f, at('dW'), dW);
  return { dx, dW };
}

/** dW = s·(Σ Gᵀ·X) from the f64 sum at `acc` (mp × d; its m real rows), s = d^(-1/4) for the softmax kernels (u = W·(s·x)). */
export function readProjectionGradient(rt: Runtime, f: PreparedFeatures, acc: number, dW: Float32Array): void {
  const { dim: d, m } = f;
  const scale = f.map.softmax ? d ** -0.25 : 1;
  const sum = rt.f64.subarray(acc >>> 3, (acc >>> 3) + m * d);
  for (let i = 0; i < m * d; i++) dW[i] = sum[i] * scale;
}
