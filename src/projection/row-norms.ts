// Row norms ρ_r of the orthogonal and structured projections (docs/design.md §2).
import { Rng } from './rng.ts';

/** How rows are scaled: 'chi' = the norm of an independent N(0, I_d) vector (unbiased), 'sqrt-d' = exactly √d. */
export type RowNorms = 'chi' | 'sqrt-d';

export const ROW_NORMS: readonly RowNorms[] = ['chi', 'sqrt-d'];

/**
 * ρ_0 … ρ_{m−1}: with 'chi', ρ_r = ‖g_r‖ for g_r made of the next d normals of `rng` (m·d normals, row by
 * row), so that ρ_r ~ χ_d and a unit row times ρ_r is marginally N(0, I_d); with 'sqrt-d', √d (no draws).
 */
export function drawRowNorms(m: number, d: number, norms: RowNorms, rng: Rng): Float64Array {
  const rho = new Float64Array(m);
  if (norms === 'sqrt-d') return rho.fill(Math.sqrt(d));
  const g = new Float64Array(d);
  for (let r = 0; r < m; r++) rho[r] = Math.sqrt(dot(rng.fillNormal(g), 0, g, 0, d));
  return rho;
}

/** Σ_c a[ia + c]·b[ib + c] over n terms, in float64, in order. */
export function dot(a: ArrayLike<number>, ia: number, b: ArrayLike<number>, ib: number, n: number): number {
  let s = 0;
  for (let c = 0; c < n; c++) s += a[ia + c] * b[ib + c];
  return s;
}
