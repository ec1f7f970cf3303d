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
  /** Outputs (queries × valueDim f32); causal: 0 when only the aligned rows' keys are wanted (favor_causal). */
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

// ---- The decoder (assembly/decoder/decoder.ts) ----

/** The f64 rows of one decoder step, beside its Workspace (whose S, z, run hold every sequence's state side by side). */
@unmanaged export class DecoderStep {
  /** The value row being added, in f64 (valueDim f64). */
  vd: usize;
  /** The numerator being read out, in f64 (valueDim f64). */
  acc: usize;
}

// ---------------------------------------------------------------------------------------------------------------
// Hybrid attention (exact window + FAVOR+, docs/design.md §1b): assembly/hybrid/forward.ts and the files beside it.
// The pass's k, v, mask hold a run of keys starting at absolute key `first` (causal: rows before key 0 zero and
// masked, so that each chunk's lagged keys and its band are both read in place); the Workspace gives the FAVOR+
// scratch and state (phi = φ(q) of a chunk, phiK = φ(k) of a chunk's band or lagged keys, c = their stabilizers).

/** The window's options and the hybrid's own scratch, beside a Pass and a Workspace. */
@unmanaged export class Hybrid {
  /** The exact window w: keys [p − w, p + w] (bidirectional) or [p − w, p] (causal) of a query aligned to key p. */
  window: i32;
  /** β (estimateLogScale): the FAVOR+ part weighs e^β against the exact one. */
  beta: f32;
  /** Keys of the head (bidirectional: windows are clipped to [0, keys)). */
  keys: i32;
  /** The key the pass's first query is aligned to (decoder: the step's position t). */
  position: i32;
  /** The absolute key of the first row at pass.k, pass.v, pass.mask. */
  first: i32;
  /** Bidirectional: phiK holds φ(k) of keys [cached, cachedEnd), the last chunk's band (reused by the next; 0, 0 at a head's start). */
  cached: i32;
  /** End of the cached band (exclusive). */
  cachedEnd: i32;
  /** Bidirectional: h of a chunk's band (band rows). */
  hK: usize;
  /** The window's logits and weights: one tile of 16 × hybrid_tile_stride(w) f32 (the backward: a chunk's rows × stride). */
  Lg: usize;
  /** φ(q)·φ(k) over the window, as Lg. */
  G: usize;
}

/** The decoder's ring of the last w + 1 keys and values of each sequence (assembly/hybrid/ring.ts). */
@unmanaged export class HybridRing {
  /** count × 2(w + 1) × dim f32: every key twice, at slot j mod (w + 1) and j mod (w + 1) + w + 1. */
  keys: usize;
  /** count × 2(w + 1) × valueDim f32, as keys. */
  values: usize;
  /** count × dim scratch: the keys leaving the ring. */
  kLag: usize;
  /** count × valueDim scratch: their values. */
  vLag: usize;
  /** valueDim f64 scratch. */
  vd: usize;
  /** valueDim f64 scratch. */
  acc: usize;
}

/**
 * The backward pass's regions (assembly/hybrid/backward.ts), one chunk of `rows` queries and its band of nb
 * keys: dOut rows × dv (in); E rows × stride; tRow, fsRow, gam, dden rows; gU, dnum rows × dv; dphiQ rows × Mp;
 * dphiK nb × Mp; du max(rows, nb) × mp; dh max(rows, nb); dS, dz f64 (added to); dq rows × dim (out); dqx rows × dim,
 * dkx nb × dim scratch; dkb nb × dim, dvb nb × dv (out: the band keys' window gradients); Bq rows × rows.
 */
@unmanaged export class HybridGradients {
  dOut: usize;
  E: usize;
  tRow: usize;
  fsRow: usize;
  gU: usize;
  gam: usize;
  dnum: usize;
  dden: usize;
  dphiQ: usize;
  dphiK: usize;
  du: usize;
  dh: usize;
  dS: usize;
  dz: usize;
  dq: usize;
  dqx: usize;
  dkx: usize;
  dkb: usize;
  dvb: usize;
  Bq: usize;
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
  /** Which product: GEMM_NN, GEMM_NT, GEMM_TN, GEMM_NN_PACKED or GEMM_TN_PACKED. */
  op: i32;
}

/** Gemm.op: C (+)= A·B. */
export const GEMM_NN: i32 = 0;
/** Gemm.op: C (+)= A·Bᵀ (B is N × K). */
export const GEMM_NT: i32 = 1;
/** Gemm.op: C (+)= Aᵀ·B (A is K × M). */
export const GEMM_TN: i32 = 2;
/** Gemm.op: GEMM_NN with B packed by gemm_pack_b (ldb unused). */
export const GEMM_NN_PACKED: i32 = 3;
/** Gemm.op: GEMM_TN with B packed by gemm_pack_b (ldb unused). */
export const GEMM_TN_PACKED: i32 = 4;
