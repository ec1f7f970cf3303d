// Statistics for the tests: distribution functions and the Kolmogorov–Smirnov test, in float64.
// Test-only code: it may use Math.exp / Math.log freely (engine-dependent last bits do not matter here).

/** ln Γ(x) for x > 0: Lanczos approximation (g = 7, 9 terms; Numerical Recipes 3rd ed. §6.1), ~1e-15 relative. */
export function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x); // reflection
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/**
 * Regularized lower incomplete gamma P(a, x) = γ(a, x)/Γ(a): the power series for x < a + 1, else
 * 1 − Q(a, x) with Q from Lentz's continued fraction (Numerical Recipes §6.2). ~1e-14 absolute.
 */
export function gammaP(a: number, x: number): number {
  if (x <= 0) return 0;
  const lnPre = a * Math.log(x) - x - logGamma(a);
  if (x < a + 1) {
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 1000 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= x / (a + n);
      sum += term;
    }
    return sum * Math.exp(lnPre);
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return 1 - Math.exp(lnPre) * h;
}

/** CDF of the χ distribution with k degrees of freedom (the norm of an N(0, I_k) vector): P(k/2, r²/2). */
export function chiCdf(r: number, k: number): number {
  return r <= 0 ? 0 : gammaP(k / 2, (r * r) / 2);
}

/** Standard normal CDF Φ(x) = ½·erfc(−x/√2); erfc by the continued fraction / series of gammaP(½, ·). */
export function normalCdf(x: number): number {
  const p = gammaP(0.5, (x * x) / 2); // P(½, x²/2) = erf(|x|/√2)
  return x >= 0 ? 0.5 + 0.5 * p : 0.5 - 0.5 * p;
}

/**
 * CDF of one coordinate t of a point uniform on the unit sphere S^{d−1} ⊂ ℝ^d: density ∝ (1 − t²)^{(d−3)/2}.
 * Closed forms for d = 2…5 (d = 3 is Archimedes' hat-box theorem: uniform on [−1, 1]).
 */
export function sphereCoordinateCdf(t: number, d: number): number {
  if (t <= -1) return 0;
  if (t >= 1) return 1;
  switch (d) {
    case 2:
      return 0.5 + Math.asin(t) / Math.PI;
    case 3:
      return (t + 1) / 2;
    case 4:
      return 0.5 + (t * Math.sqrt(1 - t * t) + Math.asin(t)) / Math.PI;
    case 5:
      return 0.5 + 0.75 * (t - (t * t * t) / 3);
    default:
      throw new Error(`sphereCoordinateCdf: d = ${d} not supported`);
  }
}

export interface KsResult {
  /** The statistic D = sup |F_n − F|. */
  d: number;
  /** The asymptotic p-value of D (Kolmogorov's distribution with Stephens' small-n correction). */
  p: number;
  n: number;
}

/** One-sample Kolmogorov–Smirnov test of `samples` against the continuous CDF `cdf`. */
export function ksTest(samples: ArrayLike<number>, cdf: (x: number) => number): KsResult {
  const x = Float64Array.from(samples).sort();
  const n = x.length;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const f = cdf(x[i]);
    d = Math.max(d, (i + 1) / n - f, f - i / n);
  }
  return { d, p: kolmogorovQ((Math.sqrt(n) + 0.12 + 0.11 / Math.sqrt(n)) * d), n };
}

/** Q_KS(λ) = 2 Σ_{k≥1} (−1)^{k−1} exp(−2k²λ²) (Numerical Recipes §14.3.3), the tail of Kolmogorov's law. */
export function kolmogorovQ(lambda: number): number {
  if (lambda < 0.2) return 1; // the series converges slowly there, and the p-value is 1 to 1e-16
  let sum = 0;
  let sign = 1;
  for (let k = 1; k <= 100; k++) {
    const term = Math.exp(-2 * k * k * lambda * lambda);
    sum += sign * term;
    if (term < 1e-17) break;
    sign = -sign;
  }
  return Math.min(1, Math.max(0, 2 * sum));
}

/** Sample mean, unbiased variance and standard error of the mean. */
export function meanStats(x: ArrayLike<number>): { mean: number; variance: number; stderr: number } {
  const n = x.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i];
  mean /= n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (x[i] - mean) ** 2;
  const variance = ss / (n - 1);
  return { mean, variance, stderr: Math.sqrt(variance / n) };
}
