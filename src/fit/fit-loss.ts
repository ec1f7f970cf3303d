// The loss of fitFeatureMap (fit.ts) on one sample window and its gradient with respect to the features,
// in float64. Notation (docs/learned-feature-maps.md): for query i and key j of one window,
//   exact weights      p_ij = softmax_j(q̂_i·k̂_j) over the keys query i sees (all, or j ≤ i when causal);
//   estimated weights  p̂_ij = ŵ_ij / Σ_j ŵ_ij with ŵ_ij = exp(q̂_i·k̂_j) inside the window |i − j| ≤ w
//                      (window > 0) and ŵ_ij = e^β·φ(q_i)·φ(k_j) outside it (the hybrid of docs/design.md §1b);
//                      β, a log-scale of the estimate against the exact part, matters only with a window
//                      (the normalized kernel's φ(q)·φ(k) ≤ 1/m is not on the scale of exp(q̂·k̂)); 0 without.
// Losses, averaged over the query rows of every sample:
//   'kl'  KL(p_i ‖ p̂_i) = Σ_j p_ij (log p_ij − log p̂_ij)     (Hedgehog's attention distillation, Zhang et al. 2024)
//   'mse' ‖Σ_j p̂_ij v_j − Σ_j p_ij v_j‖² / dv                  (output error, needs values)
// Both gradients reach the features through e_ij = ∂loss/∂log ŵ_ij (estimated entries only):
//   kl: e_ij = p̂_ij − p_ij;   mse: e_ij = p̂_ij (g_ij − Σ_l p̂_il g_il), g_ij = 2 (out_i − y_i)·v_j / dv
// and D_ij = phi_q_i·phi_k_j (the stabilized features of FavorAttention.features, ŵ_ij = D_ij·exp(s_i + t_j)):
//   G_ij = ∂loss/∂D_ij = e_ij / D_ij,  ∂loss/∂Φ_Q = G·Φ_K,  ∂loss/∂Φ_K = Gᵀ·Φ_Q  (fit-gemm.ts),
//   ∂loss/∂β = Σ_ij e_ij over the estimated entries.

export type FitLoss = 'kl' | 'mse';

/** One sample window prepared once: q, k (keys centred), v, and the exact weights and outputs. */
export interface PreparedSample {
  length: number;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array | undefined;
  valueDim: number;
  /** length × length: exact weights p (0 where not seen). */
  exact: Float64Array;
  /** length × length: q̂_i·k̂_j (the exact logits, used inside the window). */
  logits: Float64Array;
  /** length × valueDim: exact outputs Σ_j p_ij v_j (mse only). */
  target: Float64Array | undefined;
}

export interface WindowRule {
  causal: boolean;
  /** Exact weights within |i − j| ≤ window; 0: none (plain estimate). */
  window: number;
}

const seen = (rule: WindowRule, i: number, j: number) => !rule.causal || j <= i;
const inWindow = (rule: WindowRule, i: number, j: number) => rule.window > 0 && Math.abs(i - j) <= rule.window;

/** Exact logits and weights of a window (keys already centred: softmax is unchanged by the shift). */
export function prepareSample(q: Float32Array, k: Float32Array, v: Float32Array | undefined, length: number, dim: number,
                              rule: WindowRule, loss: FitLoss): PreparedSample {
  const L = length;
  const logits = new Float64Array(L * L);
  const exact = new Float64Array(L * L);
  const scale = 1 / Math.sqrt(dim);
  for (let i = 0; i < L; i++) {
    let top = -Infinity;
    for (let j = 0; j < L; j++) {
      let dot = 0;
      for (let t = 0; t < dim; t++) dot += q[i * dim + t] * k[j * dim + t];
      logits[i * L + j] = dot * scale;
      if (seen(rule, i, j)) top = Math.max(top, logits[i * L + j]);
    }
    let sum = 0;
    for (let j = 0; j < L; j++) if (seen(rule, i, j)) sum += (exact[i * L + j] = Math.exp(logits[i * L + j] - top));
    for (let j = 0; j < L; j++) exact[i * L + j] /= sum;
  }
  const valueDim = v ? v.length / L : 0;
  let target: Float64Array | undefined;
  if (loss === 'mse' && v) {
    target = new Float64Array(L * valueDim);
    for (let i = 0; i < L; i++) for (let j = 0; j < L; j++) {
      const p = exact[i * L + j];
      if (p) for (let c = 0; c < valueDim; c++) target[i * valueDim + c] += p * v[j * valueDim + c];
    }
  }
  return { length: L, q, k, v, valueDim, exact, logits, target };
}

/** The estimate of one window: D_ij = phi_q_i·phi_k_j (rows × rows) and the features' per-row log-scales. */
export interface SampleDots {
  D: ArrayLike<number>;
  logQ: ArrayLike<number>;
  logK: ArrayLike<number>;
}

/**
 * The sample's loss summed over its rows; if `G` is given (rows × rows), ∂(loss·weight)/∂D_ij is written
 * there (0 outside the estimated entries) and ∂(loss·weight)/∂β is returned as dBeta.
 */
export function sampleLoss(s: PreparedSample, f: SampleDots, rule: WindowRule, loss: FitLoss, beta: number, weight: number,
                           G?: Float32Array): { loss: number; dBeta: number } {
  const { length: L, exact } = s;
  const { D } = f;
  const logW = new Float64Array(L);
  const est = new Float64Array(L);
  const e = new Float64Array(L);
  let total = 0;
  let dBeta = 0;
  for (let i = 0; i < L; i++) {
    let top = -Infinity;
    for (let j = 0; j < L; j++) {
      if (!seen(rule, i, j)) logW[j] = -Infinity;
      else if (inWindow(rule, i, j)) logW[j] = s.logits[i * L + j];
      else logW[j] = Math.log(D[i * L + j]) + f.logQ[i] + f.logK[j] + beta; // −∞ where the features underflow to 0
      top = Math.max(top, logW[j]);
    }
    let sum = 0;
    for (let j = 0; j < L; j++) sum += (est[j] = logW[j] === -Infinity ? 0 : Math.exp(logW[j] - top));
    for (let j = 0; j < L; j++) est[j] /= sum;
    total += loss === 'kl' ? klRow(exact, i * L, est, L, e) : mseRow(s, i, est, e);
    if (!G) continue;
    for (let j = 0; j < L; j++) {
      const d = D[i * L + j];
      const estimated = seen(rule, i, j) && !inWindow(rule, i, j) && d > 0;
      G[i * L + j] = estimated ? (weight * e[j]) / d : 0;
      if (estimated) dBeta += weight * e[j];
    }
  }
  return { loss: total, dBeta };
}

/**
 * A starting β with a window: the mean of q̂·k̂ − log(φ(q)·φ(k)) over the estimated entries (the two parts
 * on one scale on average); 0 without a window.
 */
export function startingBeta(s: PreparedSample, f: SampleDots, rule: WindowRule): { sum: number; count: number } {
  const { length: L } = s;
  let sum = 0;
  let count = 0;
  if (rule.window === 0) return { sum, count };
  for (let i = 0; i < L; i++) {
    for (let j = 0; j < L; j++) {
      const dot = f.D[i * L + j];
      if (!seen(rule, i, j) || inWindow(rule, i, j) || dot <= 0) continue;
      sum += s.logits[i * L + j] - (Math.log(dot) + f.logQ[i] + f.logK[j]);
      count++;
    }
  }
  return { sum, count };
}

/** KL(p ‖ p̂) of one row; e_j = p̂_j − p_j. */
function klRow(exact: Float64Array, at: number, est: Float64Array, L: number, e: Float64Array): number {
  let kl = 0;
  for (let j = 0; j < L; j++) {
    const p = exact[at + j];
    e[j] = est[j] - p;
    if (p > 0) kl += p * (Math.log(p) - Math.log(Math.max(est[j], Number.MIN_VALUE)));
  }
  return kl;
}

/** ‖out − y‖²/dv of one row, out = Σ p̂_j v_j; e_j = p̂_j (g_j − Σ p̂ g), g_j = 2(out − y)·v_j/dv. */
function mseRow(s: PreparedSample, i: number, est: Float64Array, e: Float64Array): number {
  const { length: L, valueDim: dv } = s;
  const v = s.v!;
  const y = s.target!;
  const diff = new Float64Array(dv);
  for (let j = 0; j < L; j++) if (est[j]) for (let c = 0; c < dv; c++) diff[c] += est[j] * v[j * dv + c];
  let err = 0;
  for (let c = 0; c < dv; c++) { diff[c] -= y[i * dv + c]; err += diff[c] * diff[c]; }
  let mean = 0;
  for (let j = 0; j < L; j++) {
    let g = 0;
    for (let c = 0; c < dv; c++) g += diff[c] * v[j * dv + c];
    e[j] = (2 * g) / dv;
    mean += est[j] * e[j];
  }
  for (let j = 0; j < L; j++) e[j] = est[j] * (e[j] - mean);
  return err / dv;
}
