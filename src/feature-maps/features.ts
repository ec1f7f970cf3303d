// The prepared feature map of one FavorAttention: everything the wasm kernels need besides the data.
import { checkWorkspaceBytes } from '../runtime/heap.ts';
import { featureScale, padded, type FeatureMap } from './kernels.ts';
import { runtime, type Runtime } from '../runtime/wasm.ts';
import { planWorkspace } from '../runtime/workspace.ts';
import { projectionDescriptor, type StructuredTables } from '../projection/structured.ts';
import { writeFeatureMap, type FeatureMapFields } from '../runtime/descriptors.ts';

export interface PreparedFeatures {
  readonly map: FeatureMap;
  readonly dim: number;
  /** Projection rows m (m = dim without projection), and m padded to whole f32x4 lanes. */
  readonly m: number;
  readonly mp: number;
  /** Features per row as stored: mp, or 2·mp for the two-block kernels. */
  readonly Mp: number;
  /** Wᵀ (dim × mp, zero pad columns), scaled by dim^(-1/4) for the softmax kernels; null without projection. */
  readonly wt: Float32Array | null;
  /** The projection descriptor after Wᵀ and its packed copy: dense, or the structured transform's tables. */
  readonly descriptor: Float32Array;
  /** h = hScale·‖x‖² = ‖x̂‖²/2. */
  readonly hScale: number;
  /** φ = a·(…) */
  readonly a: number;
  /** ε added to generalized features. */
  readonly epsilon: number;
  /** The FeatureMap descriptor's fields (assembly/descriptors.ts), but for the address of the projection. */
  readonly fields: Readonly<Omit<FeatureMapFields, 'wt'>>;
}

/**
 * w: the m×dim projection in use, or null for projection 'none'; structured: its signs and norms when w is
 * a structured projection (the kernels then run the transform instead of the GEMM).
 */
export function prepareFeatures(map: FeatureMap, dim: number, w: Float32Array | null, epsilon: number,
                                structured: StructuredTables | null = null): PreparedFeatures {
  const m = w ? w.length / dim : dim;
  const mp = padded(m);
  const s = map.softmax ? dim ** -0.25 : 1; // u = W·x̂ for the softmax kernels
  let wt: Float32Array | null = null;
  if (w) {
    wt = new Float32Array(dim * mp);
    for (let r = 0; r < m; r++) for (let t = 0; t < dim; t++) wt[t * mp + r] = w[r * dim + t] * s;
  }
  const Mp = map.twoBlock ? 2 * mp : mp;
  const hScale = map.softmax ? 0.5 / Math.sqrt(dim) : 0;
  const a = featureScale(map, m, w !== null);
  const eps = map.softmax ? 0 : epsilon;
  return {
    map, dim, m, mp, Mp, wt, hScale, a,
    descriptor: projectionDescriptor(w ? structured : null, s),
    epsilon: eps,
    fields: { kind: map.id, dim, m, mp, Mp, hScale, a, eps },
  };
}

/** Bytes before the projection in a feature-map region: the FeatureMap descriptor, padded to a 64-byte line. */
const FEATURE_MAP_HEADER = 64;

/** Floats of a workspace's feature-map region: the FeatureMap descriptor, then the projection region (projectionFloats). */
export function featureMapFloats(f: PreparedFeatures): number {
  return FEATURE_MAP_HEADER / 4 + projectionFloats(f);
}

/** The projection region inside the feature-map region at fm (the wt of kernels that take it), or 0 without projection. */
export function projectionAddress(f: PreparedFeatures, fm: number): number {
  return f.wt ? fm + FEATURE_MAP_HEADER : 0;
}

/** Fills a feature-map region at `address` (see featureMapFloats); returns the descriptor's address, which the kernels take as fm. */
export function writeFeatures(rt: Runtime, f: PreparedFeatures, address: number): number {
  const wt = writeProjection(rt, f, address + FEATURE_MAP_HEADER);
  writeFeatureMap(rt.data, address, { ...f.fields, wt });
  return address;
}

/**
 * Floats of a workspace's projection region: Wᵀ (dim × mp), then the same matrix packed into B panels
 * (gemm_pack_b, assembly/linalg/gemm.ts) for the projection GEMM, then the projection descriptor
 * (assembly/projection/structured.ts). Reserved also without a projection.
 */
export function projectionFloats(f: PreparedFeatures): number {
  return 2 * f.dim * f.mp + f.descriptor.length;
}

/** Fills the projection region at `address` (see projectionFloats); returns the pointer the kernels take as wt: 0 without projection. */
export function writeProjection(rt: Runtime, f: PreparedFeatures, address: number): number {
  if (!f.wt) return 0;
  rt.write(address, f.wt);
  rt.exports.gemm_pack_b(address, f.dim, f.mp, f.mp, address + 4 * f.dim * f.mp);
  rt.write(address + 8 * f.dim * f.mp, f.descriptor);
  return address;
}

/**
 * φ(x) for `rows` rows of x (rows × dim) computed by the wasm kernels, each row stabilized by its own
 * largest exponent c_i: the true features are phi_i·exp(logScale_i). For tests and the demo.
 */
export function mapFeatures(f: PreparedFeatures, x: Float32Array, rows: number): { phi: Float32Array; logScale: Float64Array } {
  const rt = runtime();
  const { dim: d, mp, Mp } = f;
  const plan = planWorkspace({ fm: featureMapFloats(f), x: rows * d, u: rows * mp, phi: rows * Mp, h: rows, top: rows });
  checkWorkspaceBytes(plan.bytes);
  const base = rt.scratch(plan.bytes);
  const at = (region: keyof typeof plan.offsets) => base + plan.offsets[region];
  const fm = writeFeatures(rt, f, at('fm'));
  rt.write(at('x'), x.subarray(0, rows * d));
  const e = rt.exports;
  e.project_rows(fm, at('x'), rows, at('u'));
  e.feature_row_stats(fm, at('x'), at('u'), rows, at('h'), at('top'));
  e.feature_map(fm, at('u'), rows, at('h'), at('top'), at('phi'));
  const M = f.map.twoBlock ? 2 * f.m : f.m;
  const stored = rt.view(at('phi'), rows * Mp);
  const phi = new Float32Array(rows * M);
  // drop the pad lanes: [block 1 (m of mp) | block 2 (m of mp)] → m or 2m values per row
  for (let i = 0; i < rows; i++) {
    phi.set(stored.subarray(i * Mp, i * Mp + f.m), i * M);
    if (f.map.twoBlock) phi.set(stored.subarray(i * Mp + mp, i * Mp + mp + f.m), i * M + f.m);
  }
  const logScale = Float64Array.from(rt.view(at('top'), rows));
  return { phi, logScale };
}
