// u = X·Wᵀ (rows × mp) computed by the wasm project_rows on a prepared feature map: the projection step
// alone, as every pass runs it (the structured transform or the GEMM, whichever the descriptor says).
import { checkWorkspaceBytes } from '../../src/runtime/heap.ts';
import { featureMapFloats, writeFeatures, type PreparedFeatures } from '../../src/feature-maps/features.ts';
import { runtime } from '../../src/runtime/wasm.ts';
import { planWorkspace } from '../../src/runtime/workspace.ts';

export function projectRows(f: PreparedFeatures, x: Float32Array, rows: number): Float32Array {
  const rt = runtime();
  const plan = planWorkspace({ fm: featureMapFloats(f), x: rows * f.dim, u: rows * f.mp });
  checkWorkspaceBytes(plan.bytes);
  const base = rt.scratch(plan.bytes);
  const fm = writeFeatures(rt, f, base + plan.offsets.fm);
  rt.write(base + plan.offsets.x, x.subarray(0, rows * f.dim));
  rt.exports.project_rows(fm, base + plan.offsets.x, rows, base + plan.offsets.u);
  return rt.view(base + plan.offsets.u, rows * f.mp).slice();
}
