// Structured orthogonal projections (SORF; Yu et al., "Orthogonal Random Features", NeurIPS 2016;
// Choromanski et al., "The Unreasonable Effectiveness of Structured Random Orthogonal Embeddings",
// NeurIPS 2017; docs/design.md §2): each d-block of W is diag(ρ)·B with the orthogonal
//   B = Π·Ĥ·D₁·Π·Ĥ·D₂·Π·Ĥ·D₃,
// Ĥ = H/√d the normalized Walsh–Hadamard matrix, Dᵢ random ±1 diagonals, ρ the row norms ('chi' or
// 'sqrt-d', as for the dense orthogonal projection) and Π the output order of the wasm transform
// (assembly/projection/structured.ts): position p holds Walsh–Hadamard index p with its bit fields [1:0]
// and [3:2] swapped (Π = I for d < 16). W's rows are *defined* in this order, so the kernel's u = W·x̂
// needs no reordering. Three HD steps: two are biased on sparse or spiky inputs, one badly (issue 14).
//
// Random stream of drawStructured(m, d, norms, seed), all from one `new Rng(seed)`: for each block b in
// order, the signs of D₃, D₂, D₁ (d each: sign i of a table is bit i mod 32 of the table's word ⌊i/32⌋,
// ⌈d/32⌉ fresh nextUint32 words per table, a set bit = −1); then the row norms (drawRowNorms: m·d
// normals with 'chi', none with 'sqrt-d').
// W is computed in float64 (column j of B is B·e_j) and rounded to float32 once.
import { PerformerError } from '../arguments/errors.ts';
import { Rng } from './rng.ts';
import { drawRowNorms, type RowNorms } from './row-norms.ts';

/** The random parts of a structured projection: signs (blocks × [D₃ | D₂ | D₁] × d, ±1) and ρ (m). */
export interface StructuredTables {
  readonly dim: number;
  readonly features: number;
  readonly blocks: number;
  readonly signs: Float64Array;
  readonly norms: Float64Array;
}

/** The wasm transform works on 4 × 4 lanes: smaller d runs the projection GEMM on the materialized W. */
export const STRUCTURED_KERNEL_MIN_DIM = 16;

const HEADER_WORDS = 4;
const KIND_DENSE = 0;
const KIND_STRUCTURED = 1;

/** INVALID_OPTION unless d is a power of two. */
export function checkStructuredDim(d: number): void {
  if ((d & (d - 1)) !== 0) {
    throw new PerformerError('INVALID_OPTION', `projection 'structured' needs dim a power of two (1, 2, 4, 8, …), got ${d}`);
  }
}

/** Draws the signs and norms from `seed` (see the stream above) and materializes W (m × d, float32). */
export function drawStructured(m: number, d: number, norms: RowNorms, seed: number): { w: Float32Array; tables: StructuredTables } {
  const tables = drawStructuredTables(m, d, norms, seed);
  return { w: materialize(tables), tables };
}

/** The signs and norms alone (see the stream above). */
export function drawStructuredTables(m: number, d: number, norms: RowNorms, seed: number): StructuredTables {
  checkStructuredDim(d);
  const rng = new Rng(seed);
  const blocks = Math.ceil(m / d);
  const signs = new Float64Array(blocks * 3 * d);
  for (let t = 0; t < blocks * 3; t++) {
    let word = 0;
    for (let i = 0; i < d; i++) {
      if (i % 32 === 0) word = rng.nextUint32();
      signs[t * d + i] = (word >>> (i % 32)) & 1 ? -1 : 1;
    }
  }
  return { dim: d, features: m, blocks, signs, norms: drawRowNorms(m, d, norms, rng) };
}

/** W = [diag(ρ)·B_b]_b in float64, rounded once: column j of B_b is B_b·e_j. */
function materialize(t: StructuredTables): Float32Array {
  const { dim: d, features: m } = t;
  const w = new Float32Array(m * d);
  const v = new Float64Array(d);
  const scratch = new Float64Array(d);
  for (let b = 0; b < t.blocks; b++) {
    const rows = Math.min(d, m - b * d);
    for (let j = 0; j < d; j++) {
      v.fill(0);
      v[j] = 1;
      applyBlock(t, b, v, scratch);
      for (let p = 0; p < rows; p++) w[(b * d + p) * d + j] = t.norms[b * d + p] * v[p];
    }
  }
  return w;
}

/** v ← B_b·v (float64): D₃, then Π·Ĥ, D₂, Π·Ĥ, D₁, Π·Ĥ. scratch: d floats. */
function applyBlock(t: StructuredTables, b: number, v: Float64Array, scratch: Float64Array): void {
  const d = t.dim;
  for (let step = 0; step < 3; step++) {
    const s = (b * 3 + step) * d;
    for (let i = 0; i < d; i++) v[i] *= t.signs[s + i];
    walshHadamard(v);
    outputOrder(v, scratch);
  }
}

/** v ← Ĥ·v, natural (Sylvester) order, normalized by 1/√d. */
function walshHadamard(v: Float64Array): void {
  const d = v.length;
  for (let h = 1; h < d; h *= 2) {
    for (let blk = 0; blk < d; blk += 2 * h) {
      for (let i = blk; i < blk + h; i++) {
        const a = v[i];
        const c = v[i + h];
        v[i] = a + c;
        v[i + h] = a - c;
      }
    }
  }
  const s = 1 / Math.sqrt(d);
  for (let i = 0; i < d; i++) v[i] *= s;
}

/** v ← Π·v: v'[p] = v[p with bit fields [1:0] and [3:2] swapped] (d ≥ 16; identity below). */
function outputOrder(v: Float64Array, copy: Float64Array): void {
  if (v.length < STRUCTURED_KERNEL_MIN_DIM) return;
  copy.set(v);
  for (let p = 0; p < v.length; p++) v[p] = copy[(p & ~15) | ((p & 3) << 2) | ((p >> 2) & 3)];
}

/**
 * The projection descriptor the wasm kernels read after Wᵀ and its packed copy (memory contract in
 * assembly/projection/structured.ts): [kind, log₂ d, m, blocks], then per block D₃/√d, D₂/√d, D₁/√d and
 * R = ρ·scale (scale: d^(-1/4) for the softmax kernels), zero past m. Without tables, or when the
 * transform does not apply (d < 16 or m < d), only the header with kind dense.
 */
export function projectionDescriptor(t: StructuredTables | null, scale: number): Float32Array {
  const useKernel = t !== null && t.dim >= STRUCTURED_KERNEL_MIN_DIM && t.features >= t.dim;
  const out = new Float32Array(HEADER_WORDS + (useKernel ? t.blocks * 4 * t.dim : 0));
  const header = new Int32Array(out.buffer, 0, HEADER_WORDS);
  header[0] = KIND_DENSE;
  if (!useKernel) return out;
  const d = t.dim;
  header.set([KIND_STRUCTURED, Math.log2(d), t.features, t.blocks]);
  const inv = 1 / Math.sqrt(d);
  for (let b = 0; b < t.blocks; b++) {
    const at = HEADER_WORDS + b * 4 * d;
    for (let i = 0; i < 3 * d; i++) out[at + i] = t.signs[b * 3 * d + i] * inv;
    for (let p = 0; p < Math.min(d, t.features - b * d); p++) out[at + 3 * d + p] = t.norms[b * d + p] * scale;
  }
  return out;
}
