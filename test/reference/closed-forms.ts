// Closed-form mean squared errors of the random-feature estimators of the softmax kernel
// SM(x, y) = exp(xᵀy), for m i.i.d. ω ~ N(0, I_d) (Choromanski et al., "Rethinking Attention with
// Performers", ICLR 2021, Lemma 2; docs/design.md §1). x, y are the scaled vectors x̂ = q·d^(-1/4),
// ŷ = k·d^(-1/4), in float64. Each estimator is an average of m i.i.d. terms T_r, so MSE = Var(T)/m:
//
//   positive   T = exp(ωᵀs − H),             s = x + y, H = (‖x‖² + ‖y‖²)/2, E exp(ωᵀs) = exp(‖s‖²/2):
//              Var T = exp(2‖s‖² − 2H) − SM² = exp(‖s‖²)·SM²·(1 − exp(−‖s‖²))       (since ‖s‖² − 2H = 2xᵀy)
//   hyperbolic T = exp(−H)·cosh(ωᵀs)         (2m features, [e^u, e^−u]/√(2m), estimate with m rows):
//              E cosh² = (1 + exp(2‖s‖²))/2  ⇒  Var T = exp(−2H)·(exp(‖s‖²) − 1)²/2
//                                            = ½·(1 − exp(−‖s‖²))·Var T_positive
//   trig       T = exp(H)·cos(ωᵀδ),          δ = x − y, E cos(ωᵀδ) = exp(−‖δ‖²/2):
//              E cos² = (1 + exp(−2‖δ‖²))/2  ⇒  Var T = exp(2H)·(1 − exp(−‖δ‖²))²/2
//                                            = exp(‖s‖²)·SM⁻²·(1 − exp(−‖δ‖²))²/2   (since 2H = ‖s‖² − 2xᵀy)
//
// All three agree with docs/design.md §1, with m = projection rows for every kernel (the hyperbolic
// factor ½ is exactly the 2m-vs-m feature count: its m cosh terms are each a pair of exp terms).

export type SoftmaxEstimator = 'softmax' | 'softmax-hyperbolic' | 'softmax-trig';

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** ‖x + y‖², ‖x − y‖² and xᵀy of the scaled vectors. */
export function pairGeometry(x: ArrayLike<number>, y: ArrayLike<number>): { sum2: number; diff2: number; xy: number } {
  const xx = dot(x, x);
  const yy = dot(y, y);
  const xy = dot(x, y);
  return { sum2: xx + yy + 2 * xy, diff2: xx + yy - 2 * xy, xy };
}

/** SM(x, y) = exp(xᵀy) of the scaled vectors. */
export function softmaxKernel(x: ArrayLike<number>, y: ArrayLike<number>): number {
  return Math.exp(dot(x, y));
}

/** MSE of the positive estimator (FAVOR+, M = m features) with m i.i.d. Gaussian rows. */
export function msePositive(x: ArrayLike<number>, y: ArrayLike<number>, m: number): number {
  const { sum2, xy } = pairGeometry(x, y);
  return (Math.exp(sum2 + 2 * xy) * -Math.expm1(-sum2)) / m;
}

/** MSE of the hyperbolic estimator (M = 2m features) with m i.i.d. Gaussian rows. */
export function mseHyperbolic(x: ArrayLike<number>, y: ArrayLike<number>, m: number): number {
  const { sum2 } = pairGeometry(x, y);
  return 0.5 * -Math.expm1(-sum2) * msePositive(x, y, m);
}

/** MSE of the trigonometric estimator (M = 2m features) with m i.i.d. Gaussian rows. */
export function mseTrig(x: ArrayLike<number>, y: ArrayLike<number>, m: number): number {
  const { sum2, diff2, xy } = pairGeometry(x, y);
  return (Math.exp(sum2 - 2 * xy) * Math.expm1(-diff2) ** 2) / (2 * m);
}

export function closedFormMse(kernel: SoftmaxEstimator, x: ArrayLike<number>, y: ArrayLike<number>, m: number): number {
  switch (kernel) {
    case 'softmax': return msePositive(x, y, m);
    case 'softmax-hyperbolic': return mseHyperbolic(x, y, m);
    case 'softmax-trig': return mseTrig(x, y, m);
  }
}
