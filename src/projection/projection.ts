// Random projection matrices W (m×d, rows ω_r) for the random-feature maps (docs/design.md §2).
//
// Random stream of drawProjection(m, d, kind, norms, seed), all from one `new Rng(seed)`:
//   iid:         m·d normals, row-major, are the entries; with 'sqrt-d' each row is then rescaled.
//   orthogonal:  first orthonormalRows(m, d, rng) (m·d normals, consumed row by row), then, with
//                'chi', m·d more normals: row r's length is the norm of normals r·d … r·d + d − 1.
//   structured:  see structured.ts (signs, then the same row norms).
// Everything is computed in float64 and rounded to float32 once, at the end.
import { PerformerError } from '../arguments/errors.ts';
import { Rng, checkSeed } from './rng.ts';
import { checkChoice, checkFinite, checkSize, describe } from '../arguments/validate.ts';
import { dot, drawRowNorms, ROW_NORMS, type RowNorms } from './row-norms.ts';
import { drawStructured } from './structured.ts';

export { ROW_NORMS, type RowNorms };
export type ProjectionKind = 'orthogonal' | 'iid' | 'structured';

export const PROJECTION_KINDS: readonly ProjectionKind[] = ['orthogonal', 'iid', 'structured'];

/** Largest m·d drawn (2^26 entries: 256 MiB of float32 plus a float64 copy while drawing). */
const MAX_ENTRIES = 1 << 26;

export function checkShape(features: unknown, dim: unknown): [number, number] {
  const m = checkSize('features', features);
  const d = checkSize('dim', dim);
  if (m * d > MAX_ENTRIES) {
    throw new PerformerError('INVALID_SIZE', `features·dim = ${m * d} exceeds the limit of ${MAX_ENTRIES} projection entries`);
  }
  return [m, d];
}

/**
 * The m×d projection W, row-major float32, drawn from `seed` (an integer in [0, 2^32)).
 *
 * - 'iid': every entry N(0, 1). Such rows already have χ_d-distributed norms, so `norms: 'chi'`
 *   leaves them as drawn; 'sqrt-d' rescales every row to norm √d.
 * - 'orthogonal': blocks of d rows, each orthonormalized from d fresh Gaussian vectors (Haar-distributed,
 *   see orthonormalRows), the last block truncated when d ∤ m; then row r is multiplied by ‖g_r‖ for an
 *   independent g_r ~ N(0, I_d) ('chi': every ω_r is then marginally N(0, I_d), which keeps the positive
 *   estimator unbiased) or by √d ('sqrt-d').
 * - 'structured': blocks of d rows Π·Ĥ·D₁·Π·Ĥ·D₂·Π·Ĥ·D₃ (SORF with three random sign diagonals, see
 *   structured.ts), rows scaled as for 'orthogonal'; d must be a power of two (INVALID_OPTION).
 */
export function drawProjection(features: number, dim: number, kind: ProjectionKind, norms: RowNorms, seed: number): Float32Array {
  const [m, d] = checkShape(features, dim);
  const k = checkChoice('kind', kind, PROJECTION_KINDS, 'orthogonal');
  const n = checkChoice('norms', norms, ROW_NORMS, 'chi');
  if (k === 'structured') return drawStructured(m, d, n, checkSeed(seed)).w;
  const rng = new Rng(checkSeed(seed));
  const out = new Float32Array(m * d);
  const sqrtD = Math.sqrt(d);

  if (k === 'iid') {
    const g = rng.fillNormal(new Float64Array(m * d));
    for (let r = 0; r < m; r++) {
      const scale = n === 'sqrt-d' ? sqrtD / Math.sqrt(dot(g, r * d, g, r * d, d)) : 1;
      for (let c = 0; c < d; c++) out[r * d + c] = g[r * d + c] * scale;
    }
    return out;
  }

  const q = orthonormalRows(m, d, rng);
  const rho = drawRowNorms(m, d, n, rng);
  for (let r = 0; r < m; r++) {
    for (let c = 0; c < d; c++) out[r * d + c] = q[r * d + c] * rho[r];
  }
  return out;
}

/**
 * The unit rows of an orthogonal projection, before scaling: m×d row-major float64, in blocks of d
 * mutually orthonormal rows (the last block has m mod d rows when d ∤ m).
 *
 * Row i of a block is a fresh N(0, I_d) vector orthogonalized against the block's earlier rows by modified
 * Gram–Schmidt, run twice ("twice is enough": Giraud, Langou & Rozložník, Comput. Math. Appl. 50, 2005),
 * then normalized. Gram–Schmidt on i.i.d. Gaussian vectors is the Q of the QR factorization with a
 * positive diagonal R, which is Haar-distributed (Mezzadri, "How to generate random matrices from the
 * classical compact groups", Notices AMS 54, 2007) — unlike Householder QR without its sign correction.
 * Rows are drawn only as needed, so a truncated block consumes (m mod d)·d normals.
 */
export function orthonormalRows(features: number, dim: number, rng: Rng): Float64Array {
  const [m, d] = checkShape(features, dim);
  const q = new Float64Array(m * d);
  for (let start = 0; start < m; start += d) {
    for (let i = start; i < Math.min(start + d, m); i++) {
      const v = i * d;
      for (;;) {
        for (let c = 0; c < d; c++) q[v + c] = rng.normal();
        const before = Math.sqrt(dot(q, v, q, v, d));
        for (let pass = 0; pass < 2; pass++) {
          for (let j = start; j < i; j++) {
            const p = dot(q, j * d, q, v, d);
            for (let c = 0; c < d; c++) q[v + c] -= p * q[j * d + c];
          }
        }
        const norm = Math.sqrt(dot(q, v, q, v, d));
        // A (numerically) dependent draw has probability ~0; redraw it rather than divide by ~0.
        if (!(norm > 1e-8 * before)) continue;
        for (let c = 0; c < d; c++) q[v + c] /= norm;
        break;
      }
    }
  }
  return q;
}

/**
 * A 32-bit checksum of W's bits: FNV-1a (Fowler–Noll–Vo) over the IEEE 754 bytes of each float32 in
 * little-endian order (the same on every platform), continued over `more` (a structured projection's
 * descriptor: its kind, signs and norms) when given. Tags saved decoder states with the matrix they used.
 */
export function checksumProjection(w: Float32Array, more?: Float32Array): number {
  let h = 0x811c9dc5;
  for (const a of more ? [w, more] : [w]) {
    const words = new Uint32Array(a.buffer, a.byteOffset, a.length); // native order on both views: the bit pattern
    for (let i = 0; i < words.length; i++) {
      const x = words[i];
      h = Math.imul(h ^ (x & 0xff), 0x01000193);
      h = Math.imul(h ^ ((x >>> 8) & 0xff), 0x01000193);
      h = Math.imul(h ^ ((x >>> 16) & 0xff), 0x01000193);
      h = Math.imul(h ^ (x >>> 24), 0x01000193);
    }
  }
  return h >>> 0;
}

/**
 * Checks a caller-supplied projection (for example a trained model's matrix) and returns a copy.
 * It must be a Float32Array (INVALID_TYPE) of features·dim entries, or, with `features` undefined, of a
 * positive multiple of dim entries (INVALID_LENGTH), all finite (NON_FINITE).
 */
export function checkExplicitProjection(w: unknown, features: number | undefined, dim: number): Float32Array {
  const d = checkSize('dim', dim);
  if (!(w instanceof Float32Array)) {
    throw new PerformerError('INVALID_TYPE', `projection must be a Float32Array (features × dim, row-major), got ${describe(w)}`);
  }
  if (features === undefined) {
    if (w.length === 0 || w.length % d !== 0) {
      throw new PerformerError('INVALID_LENGTH', `projection must have a positive multiple of dim = ${d} entries, got ${w.length}`);
    }
    checkShape(w.length / d, d);
  } else {
    const [m] = checkShape(features, d);
    if (w.length !== m * d) {
      throw new PerformerError('INVALID_LENGTH', `projection must have features·dim = ${m}·${d} = ${m * d} entries, got ${w.length}`);
    }
  }
  checkFinite('projection', w);
  return w.slice();
}
