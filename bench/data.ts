// Seeded benchmark inputs: mulberry32 (32-bit state) feeding Box–Muller, and the input scale and error limit the
// modes share. Only the values' scale matters for timing; the seed makes runs repeatable.

/** Errors are measured up to this L (they need an exact pass, timed or not). */
export const ERROR_MAX_L = 4096;
/** Input scales: q, k ~ N(0, 0.5²) (the regime where FAVOR+ converges at d = 64), v ~ N(0, 1). */
export const QK_SIGMA = 0.5;

export function randn(n: number, seed: number, sigma = 1): Float32Array {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = sigma * Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return out;
}

/** Σ (x − ref)² and Σ ref², in float64. */
export function errorSums(x: Float32Array, ref: Float32Array): { num: number; den: number } {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    const e = x[i] - ref[i];
    num += e * e;
    den += ref[i] * ref[i];
  }
  return { num, den };
}

/** ‖x − ref‖_F / ‖ref‖_F, summed in float64. */
export function relError(x: Float32Array, ref: Float32Array): number {
  const { num, den } = errorSums(x, ref);
  return Math.sqrt(num / den);
}

/**
 * The trivial baseline's error: every query of a (batch, head) answered by the mean over keys of that
 * head's values (causal: the mean of the values at positions ≤ its own, queries = keys). v is
 * [count, keys, dv], ref (exact attention) [count, queries, dv]; returns ‖mean(V) − ref‖_F / ‖ref‖_F.
 */
export function meanValueError(v: Float32Array, ref: Float32Array, count: number, keys: number, queries: number, dv: number, causal = false): number {
  const sum = new Float64Array(dv);
  let num = 0;
  let den = 0;
  for (let r = 0; r < count; r++) {
    sum.fill(0);
    if (!causal) for (let j = 0; j < keys; j++) for (let t = 0; t < dv; t++) sum[t] += v[(r * keys + j) * dv + t];
    for (let i = 0; i < queries; i++) {
      if (causal) for (let t = 0; t < dv; t++) sum[t] += v[(r * keys + i) * dv + t];
      const n = causal ? i + 1 : keys;
      for (let t = 0; t < dv; t++) {
        const y = ref[(r * queries + i) * dv + t];
        num += (sum[t] / n - y) ** 2;
        den += y * y;
      }
    }
  }
  return Math.sqrt(num / den);
}
