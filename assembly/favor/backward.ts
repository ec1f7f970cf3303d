// Backward passes of FAVOR+ (vector–Jacobian products). The projection and the stabilizers are
// constants: they cancel in out = φ(q)ᵀS / φ(q)ᵀz, so the gradient is that of the unstabilized formula.
// Every product of a feature with its gradient, dφ ⊙ φ, is invariant to those constant scales, which
// is why the stabilized φ of the forward pass can be used throughout.
//
// With dnum_i = dOut_i / den_i and dden_i = −(dOut_i · out_i) / den_i (out = num / den):
//   dφ(q_i) = S·dnum_i + z·dden_i,  dS = Σ_i φ(q_i) dnum_iᵀ,  dz = Σ_i φ(q_i) dden_i,
//   dφ(k_j) = dS·v_j + dz,          dv_j = dSᵀ φ(k_j)                               (bidirectional)
// and, causally, the same sums restricted to j ≤ i (assembly/favor/causal.ts for the scales exp(c_j − c_i)).
// Memory contract as in favor.ts and causal.ts; every gradient buffer is f32 unless said. The exports are the
// chunk loops (fm, pass, ws, g: assembly/descriptors.ts), called for staged blocks of whole chunks
// (src/favor/backward.ts) or for one chunk (src/hybrid/backward.ts).
import { causal_chunk_read, causal_chunk_update, scaleRow, trilScaled } from './causal';
import { keyFeatures, queryFeatures } from './favor';
import { ABS, ELU1, EXP, GELU, HYPERBOLIC, NORMALIZED, POSITIVE, RELU, TRIG } from '../feature-maps/features';
import { gemm_nn, gemm_nt, gemm_tn } from '../linalg/gemm';
import { exp4 } from '../linalg/math';
import { normalizedRowGradient } from '../feature-maps/normalized';
import { addToF64, carry, dot, state_to_f32, zeroMaskedRows } from './state';
import { FeatureMap, Gradients, Pass, Workspace } from '../descriptors';
import { projection_gradient } from '../feature-maps/projection-grad';

// ── through the feature map ────────────────────────────────────────────────────────────────────────

/**
 * dx (rows × d) from dφ (rows × Mp) for the feature map fm's φ of x as computed by the forward pass: u (rows × mp, the
 * projection), phi (rows × Mp, stabilized), c (the stabilizer of each row, used by 'exp' for its ε
 * term). du (rows × mp) and dh (rows) are scratch. With x̂ = s·x, u = W·x̂ (wt = s·Wᵀ) and h = ‖x̂‖²/2:
 *   positive    du = g,          dh = −Σ g,               g = dφ ⊙ φ
 *   hyperbolic  du = g₊ − g₋,    dh = −Σ (g₊ + g₋)
 *   trig        du = dφ_sin ⊙ φ_cos − dφ_cos ⊙ φ_sin,   dh = Σ dφ ⊙ φ
 *   generalized du = a·f′(u) ⊙ dφ (exp: dφ ⊙ (φ − ε·e^(−c)))
 *   normalized  du = g₊ − g₋ through each half's softmax (normalized.ts), dh = 0
 * then dx = du·(s·W) + 2·hScale·dh·x.
 */
export function feature_backward(fm: FeatureMap, x: usize, u: usize, phi: usize, dphi: usize, rows: i32, c: usize,
                                 du: usize, dh: usize, dx: usize): void {
  const kind = fm.kind, d = fm.dim, m = fm.m, mp = fm.mp, Mp = fm.Mp, wt = fm.wt, hScale = fm.hScale, a = fm.a, eps = fm.eps;
  for (let i = 0; i < rows; i++) {
    const p = phi + (<usize>(i * Mp) << 2);
    const g = dphi + (<usize>(i * Mp) << 2);
    const ur = u + (<usize>(i * mp) << 2);
    const dr = du + (<usize>(i * mp) << 2);
    let hGrad: f32 = 0;
    if (kind == NORMALIZED) {
      normalizedRowGradient(p, g, dr, m, mp);
      store<f32>(dh + (<usize>i << 2), 0);
      continue;
    }
    for (let r = 0; r < mp; r++) {
      const off = <usize>r << 2;
      let dur: f32 = 0;
      if (r < m) {
        const pr = load<f32>(p + off);
        const gr = load<f32>(g + off);
        if (kind == POSITIVE) {
          dur = gr * pr;
          hGrad -= dur;
        } else if (kind == HYPERBOLIC) {
          const plus = gr * pr;
          const minus = load<f32>(g + off + (<usize>mp << 2)) * load<f32>(p + off + (<usize>mp << 2));
          dur = plus - minus;
          hGrad -= plus + minus;
        } else if (kind == TRIG) {
          const pc = load<f32>(p + off + (<usize>mp << 2));
          const gc = load<f32>(g + off + (<usize>mp << 2));
          dur = gr * pc - gc * pr;
          hGrad += gr * pr + gc * pc;
        } else if (kind == EXP) {
          // (masked rows have gr = 0 and may have c = −∞: leave them at 0 rather than 0·∞)
          if (gr != 0) dur = gr * (pr - eps * expScalar(-load<f32>(c + (<usize>i << 2))));
        } else {
          dur = a * derivative(kind, load<f32>(ur + off)) * gr;
        }
      }
      store<f32>(dr + off, dur);
    }
    store<f32>(dh + (<usize>i << 2), hGrad);
  }
  if (wt) gemm_nt(du, wt, dx, rows, d, mp, mp, mp, d, 0);
  else for (let i = 0; i < rows; i++) memory.copy(dx + (<usize>(i * d) << 2), du + (<usize>(i * mp) << 2), <usize>d << 2);
  if (kind == POSITIVE || kind == HYPERBOLIC || kind == TRIG) {
    for (let i = 0; i < rows; i++) {
      const f: f32 = <f32>2 * hScale * load<f32>(dh + (<usize>i << 2));
      for (let t = 0; t < d; t++) {
        const off = <usize>(i * d + t) << 2;
        store<f32>(dx + off, load<f32>(dx + off) + f * load<f32>(x + off));
      }
    }
  }
}

/**
 * feature_backward for the feature map fm on `rows` rows of x, with φ as the forward pass left it: u, phi and the
 * stabilizers (top) in ws, dφ in g.dphi; writes g.dq (rows × dim, ∂loss/∂x) and leaves ∂loss/∂u in g.du.
 */
export function feature_map_backward(fm: FeatureMap, ws: Workspace, g: Gradients, x: usize, rows: i32): void {
  feature_backward(fm, x, ws.u, ws.phi, g.dphi, rows, ws.top, g.du, g.dh, g.dq);
}

/** With g.dW set: adds Gᵀ·X of the rows at x just through feature_backward (G left in g.du). */
@inline function addProjectionGradient(fm: FeatureMap, g: Gradients, x: usize, rows: i32): void {
  if (g.dW) projection_gradient(g.du, x, rows, fm.dim, fm.mp, g.dWt, g.dW);
}

@inline function expScalar(x: f32): f32 {
  return f32x4.extract_lane(exp4(f32x4.splat(x)), 0);
}

// gelu(x) = x·σ(t), t = K(x + C x³): gelu′ = σ(t) + x·σ(t)(1 − σ(t))·K(1 + 3C x²)
const GELU_K: f32 = 1.5957691216057308;
const GELU_C: f32 = 0.044715;

/** f′(u) of the generalized kernels. */
@inline function derivative(kind: i32, x: f32): f32 {
  if (kind == RELU) return x > 0 ? 1 : 0;
  if (kind == ABS) return x > 0 ? 1 : (x < 0 ? -1 : 0);
  if (kind == ELU1) return x > 0 ? 1 : expScalar(x);
  if (kind == GELU) {
    const t = GELU_K * (x + GELU_C * x * x * x);
    const sg: f32 = 1 / (1 + expScalar(-t));
    return sg + x * sg * (1 - sg) * GELU_K * (1 + 3 * GELU_C * x * x);
  }
  return 0;
}

// ── bidirectional ──────────────────────────────────────────────────────────────────────────────────

/**
 * Query side of the bidirectional backward pass: pass.queries rows at pass.q with their g.dOut, pass.chunk rows
 * at a time. From the keys' state in ws.S32, ws.z32 (f32) writes g.dq, and adds Σ φ(q_i) dnum_iᵀ to g.dS and
 * Σ φ(q_i) dden_i to g.dz (both f64); with g.dW, the projection gradient too.
 */
export function favor_backward_queries(fm: FeatureMap, pass: Pass, ws: Workspace, g: Gradients): void {
  const rows = pass.queries, C = pass.chunk, dv = pass.valueDim, qRow = <usize>fm.dim << 2, oRow = <usize>dv << 2;
  for (let i = 0; i < rows; i += C) {
    const n = min(C, rows - i);
    const q = pass.q + <usize>i * qRow;
    queriesChunk(fm, ws, g, q, g.dOut + <usize>i * oRow, g.dq + <usize>i * qRow, n, dv);
    addProjectionGradient(fm, g, q, n);
  }
}

/** One chunk of favor_backward_queries: dq (rows × d) for the queries at q with their dOut. */
function queriesChunk(fm: FeatureMap, ws: Workspace, g: Gradients, q: usize, dOut: usize, dq: usize, rows: i32, dv: i32): void {
  const Mp = fm.Mp, S32 = ws.S32, z32 = ws.z32, u = ws.u, phi = ws.phi, top = ws.top, dnum = g.dnum, dden = g.dden;
  const dphi = g.dphi, tmpS = ws.tmpS, colSum = ws.colSum;
  queryFeatures(fm, q, rows, u, ws.h, top, phi);
  gemm_nn(phi, S32, dnum, rows, dv, Mp, Mp, dv, dv, 0); // num, turned into dnum below
  for (let i = 0; i < rows; i++) {
    normalizerGradients(dnum + (<usize>(i * dv) << 2), dOut + (<usize>(i * dv) << 2), dv,
                        dot(phi + (<usize>(i * Mp) << 2), z32, Mp), dden + (<usize>i << 2), 1);
  }
  // dΦ_Q = dNum·Sᵀ + dden ⊗ z
  gemm_nt(dnum, S32, dphi, rows, Mp, dv, dv, dv, Mp, 0);
  addOuter(dphi, dden, z32, rows, Mp);
  feature_backward(fm, q, u, phi, dphi, rows, top, g.du, g.dh, dq);
  // dS += Φ_Qᵀ dNum, dz += Φ_Qᵀ dden
  gemm_tn(phi, dnum, tmpS, Mp, dv, rows, Mp, dv, dv, 0);
  addToF64(g.dS, tmpS, Mp * dv);
  weightedColumnSum(phi, dden, rows, Mp, colSum);
  addToF64(g.dz, colSum, Mp);
}

/**
 * Key side: pass.keys rows at pass.k, pass.v, pass.mask, pass.chunk rows at a time, each φ(k_j) at the
 * stabilizer in ws.c (f32, one per row of a chunk: the caller fills it), then dv = Φ_K·dS and
 * dΦ_K = V·dSᵀ + 1 ⊗ dz from g.dS32, g.dz32 (f32): writes g.dk and g.dv. Masked rows get zero gradients.
 */
export function favor_backward_keys(fm: FeatureMap, pass: Pass, ws: Workspace, g: Gradients): void {
  const rows = pass.keys, C = pass.chunk, dv = pass.valueDim, kRow = <usize>fm.dim << 2, vRow = <usize>dv << 2;
  const mask = pass.mask;
  for (let j = 0; j < rows; j += C) {
    const n = min(C, rows - j);
    const k = pass.k + <usize>j * kRow;
    keysChunk(fm, ws, g, k, pass.v + <usize>j * vRow, mask ? mask + <usize>j : 0, g.dk + <usize>j * kRow, g.dv + <usize>j * vRow, n, dv);
    addProjectionGradient(fm, g, k, n);
  }
}

/** One chunk of favor_backward_keys: dk (rows × d) and dvOut (rows × dv). */
function keysChunk(fm: FeatureMap, ws: Workspace, g: Gradients, k: usize, v: usize, mask: usize, dk: usize, dvOut: usize, rows: i32, dv: i32): void {
  const Mp = fm.Mp, u = ws.u, phi = ws.phiK, cRow = ws.c, dS32 = g.dS32, dphi = g.dphi;
  keyFeatures(fm, k, rows, mask, u, ws.h, ws.top, cRow, phi);
  gemm_nn(phi, dS32, dvOut, rows, dv, Mp, Mp, dv, dv, 0);
  gemm_nt(v, dS32, dphi, rows, Mp, dv, dv, dv, Mp, 0);
  addRowToEach(dphi, g.dz32, rows, Mp);
  zeroMaskedRows(dphi, mask, rows, Mp);
  feature_backward(fm, k, u, phi, dphi, rows, cRow, g.du, g.dh, dk);
}

/**
 * From num (in place, dv values) and den: dnum = dOut/den (written over num), dden = −(dOut·out)/den
 * with out = num/den; both times `scale`. A row whose denominator is 0 (it saw no key) gets zeros.
 */
function normalizerGradients(num: usize, dOut: usize, dv: i32, den: f32, dden: usize, scale: f32): void {
  if (den == 0) {
    memory.fill(num, 0, <usize>dv << 2);
    store<f32>(dden, 0);
    return;
  }
  let s: f32 = 0;
  for (let t = 0; t < dv; t++) {
    const off = <usize>t << 2;
    const g = load<f32>(dOut + off);
    s += g * load<f32>(num + off);
    store<f32>(num + off, g * scale / den);
  }
  store<f32>(dden, -s * scale / (den * den));
}

/** M[i, :] += w[i]·x (M rows × n). */
export function addOuter(M: usize, w: usize, x: usize, rows: i32, n: i32): void {
  for (let i = 0; i < rows; i++) {
    const wi = f32x4.splat(load<f32>(w + (<usize>i << 2)));
    const row = M + (<usize>(i * n) << 2);
    for (let r = 0; r < n; r += 4) {
      const off = <usize>r << 2;
      v128.store(row + off, f32x4.add(v128.load(row + off), f32x4.mul(wi, v128.load(x + off))));
    }
  }
}

/** M[i, :] += x for every row (n a multiple of 4). */
function addRowToEach(M: usize, x: usize, rows: i32, n: i32): void {
  for (let i = 0; i < rows; i++) {
    const row = M + (<usize>(i * n) << 2);
    for (let r = 0; r < n; r += 4) {
      const off = <usize>r << 2;
      v128.store(row + off, f32x4.add(v128.load(row + off), v128.load(x + off)));
    }
  }
}

/** out[r] = Σ_i w[i]·M[i, r] (M rows × n, n a multiple of 4). */
export function weightedColumnSum(M: usize, w: usize, rows: i32, n: i32, out: usize): void {
  memory.fill(out, 0, <usize>n << 2);
  addOuterT(out, M, w, rows, n, f32x4.splat(1));
}

/** out[r] += Σ_i f·w[i]·M[i, r]. */
function addOuterT(out: usize, M: usize, w: usize, rows: i32, n: i32, f: v128): void {
  for (let i = 0; i < rows; i++) {
    const wi = f32x4.mul(f, f32x4.splat(load<f32>(w + (<usize>i << 2))));
    const row = M + (<usize>(i * n) << 2);
    for (let r = 0; r < n; r += 4) {
      const off = <usize>r << 2;
      v128.store(out + off, f32x4.add(v128.load(out + off), f32x4.mul(wi, v128.load(row + off))));
    }
  }
}

// ── causal ─────────────────────────────────────────────────────────────────────────────────────────

/**
 * Causal backward, forward sweep: pass.queries rows at pass.q (with g.dOut) and as many aligned keys at pass.k,
 * pass.v, pass.mask (the pass's prefix already in the state ws.S, ws.z, ws.run), pass.chunk rows at a time. Each
 * chunk runs as the forward pass does (causal.ts), then
 * dφ(q_i) = exp(c_prev − c_i)(S·dnum_i + z·dden_i) + Σ_{j≤i} exp(c_j − c_i)(dnum_i·v_j + dden_i) φ(k_j),
 * dq into g.dq; stores per row dnum (g.dnum), dden (g.dden) and the prefix maxima (g.cRow) for the reverse
 * sweep, and moves the state on. g.tmpV holds the chunk's recomputed outputs.
 */
export function favor_causal_backward_forward(fm: FeatureMap, pass: Pass, ws: Workspace, g: Gradients): void {
  const rows = pass.queries, C = pass.chunk, dv = pass.valueDim, qRow = <usize>fm.dim << 2, vRow = <usize>dv << 2;
  const mask = pass.mask;
  for (let i = 0; i < rows; i += C) {
    const n = min(C, rows - i);
    const at = <usize>i;
    const q = pass.q + at * qRow;
    causalForwardChunk(fm, ws, g, q, pass.k + at * qRow, pass.v + at * vRow, mask ? mask + at : 0, g.dOut + at * vRow,
                       g.cRow + (at << 2), g.dnum + at * vRow, g.dden + (at << 2), g.dq + at * qRow, n, dv);
    addProjectionGradient(fm, g, q, n);
  }
}

/** One chunk of favor_causal_backward_forward. */
function causalForwardChunk(fm: FeatureMap, ws: Workspace, g: Gradients, q: usize, k: usize, v: usize, mask: usize, dOut: usize,
                            cK: usize, dnum: usize, dden: usize, dq: usize, rows: i32, dv: i32): void {
  const Mp = fm.Mp, den = ws.den, S32 = ws.S32, z32 = ws.z32, out = g.tmpV, dphi = g.dphi, cPrev = <f32>load<f64>(ws.run);
  causal_chunk_read(fm, ws, q, k, v, mask, cK, out, rows, dv);
  for (let i = 0; i < rows; i++) {
    const row = dnum + (<usize>(i * dv) << 2);
    memory.copy(row, out + (<usize>(i * dv) << 2), <usize>dv << 2);
    // normalizerGradients wants num: out·den (the guarded division of the forward pass is undone exactly where den ≠ 0)
    const di = load<f32>(den + (<usize>i << 2));
    scaleRow(row, dv, di);
    normalizerGradients(row, dOut + (<usize>(i * dv) << 2), dv, di, dden + (<usize>i << 2), 1);
  }
  // from the state before the chunk, at scale exp(c_prev − c_i)
  gemm_nt(dnum, S32, dphi, rows, Mp, dv, dv, dv, Mp, 0);
  addOuter(dphi, dden, z32, rows, Mp);
  for (let i = 0; i < rows; i++) {
    const f = carry(cPrev, load<f32>(cK + (<usize>i << 2)));
    if (f != 1) scaleRow(dphi + (<usize>(i * Mp) << 2), Mp, f);
  }
  // within the chunk: B = tril((dNum·Vᵀ + dden ⊗ 1) ⊙ exp(c_j − c_i)), dΦ_Q += B·Φ_K
  blockGradient(dnum, v, dden, cK, g.B, rows, dv);
  gemm_nn(g.B, ws.phiK, dphi, rows, Mp, rows, rows, Mp, Mp, 1);
  feature_backward(fm, q, ws.u, ws.phi, dphi, rows, ws.top, g.du, g.dh, dq);
  causal_chunk_update(fm, ws, v, cK, rows, dv);
}

/** B = tril((dNum·Vᵀ + dden ⊗ 1) ⊙ exp(c_j − c_i)) (rows × rows). */
export function blockGradient(dnum: usize, v: usize, dden: usize, cK: usize, B: usize, rows: i32, dv: i32): void {
  gemm_nt(dnum, v, B, rows, rows, dv, dv, dv, rows, 0);
  for (let i = 0; i < rows; i++) {
    const di = load<f32>(dden + (<usize>i << 2));
    const row = B + (<usize>(i * rows) << 2);
    for (let j = 0; j <= i; j++) store<f32>(row + (<usize>j << 2), load<f32>(row + (<usize>j << 2)) + di);
  }
  trilScaled(B, cK, rows, load<f32>(cK) != load<f32>(cK + (<usize>(rows - 1) << 2)));
}

/**
 * Causal backward, reverse sweep over pass.queries rows (queries at pass.q, aligned keys at pass.k, pass.v,
 * pass.mask), pass.chunk rows at a time from the last chunk to the first. Per chunk: with the suffix sums of the
 * later queries R = Σ exp(ρ − c_i) φ(q_i) dnum_iᵀ and r = Σ exp(ρ − c_i) φ(q_i) dden_i (f64, at scale
 * ρ ≤ every later c_i, stored at `rho`), computes for the keys of this chunk
 *   dφ(k_j) = Σ_{i≥j in chunk} exp(c_j − c_i) φ(q_i)(dnum_i·v_j + dden_i) + exp(c_j − ρ)(R·v_j + r),
 *   dv_j    = Σ_{i≥j in chunk} exp(c_j − c_i)(φ(q_i)·φ(k_j)) dnum_i + exp(c_j − ρ) Rᵀφ(k_j),
 * writes g.dk and g.dv, then adds this chunk's queries to R and r at the new scale ρ' = c of its first row.
 * R, r, ρ are g.dS, g.dz, g.rho; g.cRow, g.dnum, g.dden as the forward sweep stored them (dnum, dden are
 * rescaled in place). ws.S32, ws.z32 hold R and r in f32; g.tmpK, g.tmpV are scratch.
 */
export function favor_causal_backward_reverse(fm: FeatureMap, pass: Pass, ws: Workspace, g: Gradients): void {
  const rows = pass.queries, C = pass.chunk, dv = pass.valueDim, qRow = <usize>fm.dim << 2, vRow = <usize>dv << 2;
  const mask = pass.mask;
  if (rows <= 0) return;
  for (let i = ((rows - 1) / C) * C; i >= 0; i -= C) {
    const n = min(C, rows - i);
    const at = <usize>i;
    const k = pass.k + at * qRow;
    causalReverseChunk(fm, ws, g, pass.q + at * qRow, k, pass.v + at * vRow, mask ? mask + at : 0,
                       g.cRow + (at << 2), g.dnum + at * vRow, g.dden + (at << 2), g.dk + at * qRow, g.dv + at * vRow, n, dv);
    addProjectionGradient(fm, g, k, n);
  }
}

/** One chunk of favor_causal_backward_reverse. */
function causalReverseChunk(fm: FeatureMap, ws: Workspace, g: Gradients, q: usize, k: usize, v: usize, mask: usize,
                            cK: usize, dnum: usize, dden: usize, dk: usize, dvOut: usize, rows: i32, dv: i32): void {
  const Mp = fm.Mp, u = ws.u, phiQ = ws.phi, phiK = ws.phiK, h = ws.h, top = ws.top, A = ws.A, R32 = ws.S32, r32 = ws.z32;
  const colSum = ws.colSum, B = g.B, dphi = g.dphi, R = g.dS, r = g.dz, rho = g.rho, tmpK = g.tmpK, tmpV = g.tmpV;
  const cFirst = load<f32>(cK);
  // queries first, then keys (so that u, h, top hold the keys' values for their feature backward)
  queryFeatures(fm, q, rows, u, h, top, phiQ);
  keyFeatures(fm, k, rows, mask, u, h, top, cK, phiK);
  const grows = cFirst != load<f32>(cK + (<usize>(rows - 1) << 2));
  // within the chunk
  gemm_nt(phiQ, phiK, A, rows, rows, Mp, Mp, Mp, rows, 0);
  trilScaled(A, cK, rows, grows);
  blockGradient(dnum, v, dden, cK, B, rows, dv);
  gemm_tn(B, phiQ, dphi, rows, Mp, rows, rows, Mp, Mp, 0);
  gemm_tn(A, dnum, dvOut, rows, dv, rows, rows, dv, dv, 0);
  // from the later chunks
  const rhoNow = <f32>load<f64>(rho);
  if (rhoNow != -Infinity) {
    state_to_f32(R, r, R32, r32, Mp, dv);
    gemm_nt(v, R32, tmpK, rows, Mp, dv, dv, dv, Mp, 0);
    gemm_nn(phiK, R32, tmpV, rows, dv, Mp, Mp, dv, dv, 0);
    for (let j = 0; j < rows; j++) {
      const f = carry(load<f32>(cK + (<usize>j << 2)), rhoNow);
      const later = tmpK + (<usize>(j * Mp) << 2);
      const grad = dphi + (<usize>(j * Mp) << 2);
      for (let t = 0; t < Mp; t++) {
        const off = <usize>t << 2;
        store<f32>(grad + off, load<f32>(grad + off) + f * (load<f32>(later + off) + load<f32>(r32 + off)));
      }
      const vrow = dvOut + (<usize>(j * dv) << 2);
      const trow = tmpV + (<usize>(j * dv) << 2);
      for (let t = 0; t < dv; t++) {
        const off = <usize>t << 2;
        store<f32>(vrow + off, load<f32>(vrow + off) + f * load<f32>(trow + off));
      }
    }
  }
  zeroMaskedRows(dphi, mask, rows, Mp);
  zeroMaskedRowsOf(dvOut, mask, rows, dv);
  feature_backward(fm, k, u, phiK, dphi, rows, cK, g.du, g.dh, dk);
  // this chunk's queries join the suffix sums at scale ρ' = c of the first row
  if (cFirst == -Infinity) return; // only queries that saw no key, whose gradients are zero
  if (rhoNow != -Infinity) rescale64(R, r, Mp, dv, <f64>carry(cFirst, rhoNow));
  store<f64>(rho, <f64>cFirst);
  for (let i = 0; i < rows; i++) {
    const f = carry(cFirst, load<f32>(cK + (<usize>i << 2)));
    if (f != 1) {
      scaleRow(dnum + (<usize>(i * dv) << 2), dv, f);
      store<f32>(dden + (<usize>i << 2), load<f32>(dden + (<usize>i << 2)) * f);
    }
  }
  gemm_tn(phiQ, dnum, R32, Mp, dv, rows, Mp, dv, dv, 0);
  addToF64(R, R32, Mp * dv);
  weightedColumnSum(phiQ, dden, rows, Mp, colSum);
  addToF64(r, colSum, Mp);
}

function zeroMaskedRowsOf(M: usize, mask: usize, rows: i32, n: i32): void {
  if (!mask) return;
  for (let i = 0; i < rows; i++) if (!load<u8>(mask + i)) memory.fill(M + (<usize>(i * n) << 2), 0, <usize>n << 2);
}

function rescale64(R: usize, r: usize, Mp: i32, dv: i32, f: f64): void {
  for (let i = 0; i < Mp * dv; i++) store<f64>(R + (<usize>i << 3), load<f64>(R + (<usize>i << 3)) * f);
  for (let i = 0; i < Mp; i++) store<f64>(r + (<usize>i << 3), load<f64>(r + (<usize>i << 3)) * f);
}

/** For the keys every causal query sees (keys − queries > 0): dS = R, dz = r moved from scale ρ to c. */
export function suffix_to_state_grad(R: usize, r: usize, rho: usize, c: f32, dS32: usize, dz32: usize, Mp: i32, dv: i32): void {
  const f = <f64>carry(c, <f32>load<f64>(rho));
  for (let i = 0; i < Mp * dv; i++) store<f32>(dS32 + (<usize>i << 2), <f32>(load<f64>(R + (<usize>i << 3)) * f));
  for (let i = 0; i < Mp; i++) store<f32>(dz32 + (<usize>i << 2), <f32>(load<f64>(r + (<usize>i << 3)) * f));
}

