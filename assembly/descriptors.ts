// The descriptors that the wasm exports read instead of long argument lists: plain structs in linear memory,
// written by the TypeScript facade. This file is their one definition: scripts/generate-abi.mjs reads it and
// writes the TypeScript writers (src/runtime/descriptors.ts) and the typing of every export (src/runtime/abi.ts);
// a test fails when those files are stale. Every field is 4 bytes (i32, u32, usize or f32), so that field n lives
// at byte 4·n on both sides; a pointer field that a pass does not use is 0.
//
// How they divide the work (docs/design.md, "Kernel descriptors"):
// - FeatureMap: what φ is, built once per FavorAttention (and on redraw / withProjection), copied into each call's
//   workspace with the projection it points to;
// - Pass: one head's rows and the sizes and options of one call;
// - Workspace: the scratch regions and the state of one lane (one per thread).

/** The feature map φ (docs/design.md §1): kind, sizes, scales and the projection. */
@unmanaged export class FeatureMap {
  /** The kernel id (POSITIVE … NORMALIZED, assembly/feature-maps/kinds.ts). */
  kind: i32;
  /** Input dimension d. */
  dim: i32;
  /** Projection rows m (m = d without projection). */
  m: i32;
  /** m rounded up to a multiple of 4. */
  mp: i32;
  /** Features per row as stored: mp, or 2·mp for the two-block kernels. */
  Mp: i32;
  /** Wᵀ (d × mp, scaled by d^(-1/4) for the softmax kernels), its packed copy and the projection's own descriptor; 0 without projection. */
  wt: usize;
  /** h = hScale·‖x‖² (= ‖x̂‖²/2 for the softmax kernels, else 0). */
  hScale: f32;
  /** The scale a in φ = a·(…). */
  a: f32;
  /** ε added to generalized features. */
  eps: f32;
}

/** One head's rows in wasm memory and the sizes and options of one call. */
@unmanaged export class Pass {
  /** Queries (queries × dim f32). */
  q: usize;
  /** Keys (keys × dim f32). */
  k: usize;
  /** Values (keys × valueDim f32). */
  v: usize;
  /** 0, or one byte per key (nonzero = keep). */
  mask: usize;
  /** Outputs (queries × valueDim f32). */
  out: usize;
  /** Rows of q and out. */
  queries: i32;
  /** Rows of k and v. */
  keys: i32;
  /** Causal: keys that every query sees, before the aligned rows (k, v, mask start at the first of them). */
  prefix: i32;
  /** Value dimension dv. */
  valueDim: i32;
  /** Rows per chunk C. */
  chunk: i32;
}

/**
 * The scratch and the state of one lane, C rows per chunk (rows × n means n f32 per row): u rows × mp; phi and phiK
 * rows × Mp; h, top, c, den rows; A rows × rows; tmpS, S32 Mp × dv; colSum, z32 Mp; S (Mp × dv), z (Mp) and run (the
 * key stabilizer, 1) in f64.
 */
@unmanaged export class Workspace {
  u: usize;
  phi: usize;
  phiK: usize;
  h: usize;
  top: usize;
  c: usize;
  den: usize;
  A: usize;
  tmpS: usize;
  colSum: usize;
  S32: usize;
  z32: usize;
  S: usize;
  z: usize;
  run: usize;
}

// ── Gradients and matrix products (backward passes, exact attention, the GEMM exports) ──────────────────────

/**
 * The gradient regions of one backward pass (FAVOR+ and exact attention; f32 unless said). Outputs: dq (queries ×
 * dim), dk (keys × dim), dv (keys × valueDim), from dOut (queries × valueDim). Per staged block (causal FAVOR+):
 * dnum (rows × valueDim), dden and cRow (rows). Scratch, C rows per chunk: dphi rows × Mp, du rows × mp, dh rows,
 * B rows × rows, tmpK rows × Mp, tmpV rows × valueDim; dS32 Mp × valueDim, dz32 Mp. dS (Mp × valueDim), dz (Mp)
 * and rho (1) in f64: the state's gradient (bidirectional) or the suffix sums R, r at scale ρ (causal). dWt (mp ×
 * dim) is scratch and dW (mp × dim, f64) the projection gradient's sum; dW = 0: no projection gradient.
 */
@unmanaged export class Gradients {
  dOut: usize;
  dq: usize;
  dk: usize;
  dv: usize;
  dphi: usize;
  du: usize;
  dh: usize;
  dnum: usize;
  dden: usize;
  cRow: usize;
  B: usize;
  dS: usize;
  dz: usize;
  rho: usize;
  dS32: usize;
  dz32: usize;
  tmpK: usize;
  tmpV: usize;
  dWt: usize;
  dW: usize;
}

/** One matrix product C = op(A)·op(B) (or C += when accumulate ≠ 0), row-major f32 with leading dimensions. */
@unmanaged export class Gemm {
  /** A: M × K (tn: K × M). */
  a: usize;
  /** B: K × N (nt: N × K; the packed kernels: B as gemm_pack_b left it). */
  b: usize;
  /** C: M × N. */
  c: usize;
  M: i32;
  N: i32;
  K: i32;
  lda: i32;
  /** Unused by the packed kernels. */
  ldb: i32;
  ldc: i32;
  /** 0: C = op(A)·op(B); else C += op(A)·op(B). */
  accumulate: i32;
}
