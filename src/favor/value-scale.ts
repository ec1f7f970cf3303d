// Attention is linear in V: out(V·2^-k) = out(V)·2^-k. Values near the float32 limit would overflow
// the float32 sums inside the kernels (Σ φ·v over thousands of keys), so such V is scaled down by a
// power of two (exact) before the pass and the output scaled back up, clamped to the float32 range.

/** Past this magnitude of max|v| the pass runs on V·2^-k (sums of up to 2^40 terms stay finite). */
const LARGE = 2 ** 80;

/** The power of two to divide V by, given max|v| (1 when V is moderate). */
export function valueScale(maxAbs: number): number {
  return maxAbs > LARGE ? 2 ** Math.ceil(Math.log2(maxAbs)) : 1;
}

/**
 * Runs pass(V') with V' = V / scale and writes into out, then scales out back: the whole treatment of
 * large values in one place. With scale 1 it is just pass(V).
 */
export function withValueScale(v: Float32Array, maxAbs: number, out: Float32Array, pass: (values: Float32Array) => void): void {
  const scale = valueScale(maxAbs);
  if (scale === 1) return pass(v);
  pass(scaledValues(v, scale));
  unscaleOutput(out, scale);
}

/** V / scale, as a new array (scale is a power of two: exact, bar values far below the largest). */
function scaledValues(v: Float32Array, scale: number): Float32Array {
  return v.map((x) => x / scale);
}

/** out *= scale, clamped to the float32 range. */
function unscaleOutput(out: Float32Array, scale: number): void {
  const max = 3.4028234663852886e38;
  for (let i = 0; i < out.length; i++) out[i] = Math.max(-max, Math.min(max, out[i] * scale));
}
