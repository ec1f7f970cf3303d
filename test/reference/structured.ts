// Float64 reference of a structured (SORF) block, written independently of src/projection/structured.ts:
// the Walsh–Hadamard matrix built entry by entry (H_ij = (−1)^popcount(i & j), Sylvester order), the
// output order Π as an explicit permutation, and any number of HD steps (the library uses 3; the
// statistics tests build the 2-step variant to show that their test catches its bias).

function popcount(x: number): number {
  let c = 0;
  for (; x; x &= x - 1) c++;
  return c;
}

/** Π for the wasm transform: position p holds Walsh–Hadamard index p with bit fields [1:0] and [3:2] swapped (d ≥ 16). */
export function outputIndex(p: number, d: number): number {
  return d < 16 ? p : (p & ~15) | ((p & 3) << 2) | ((p >> 2) & 3);
}

/**
 * The d×d block Π·Ĥ·S_1·Π·Ĥ·S_2·…·Π·Ĥ·S_k (row-major float64) for sign vectors S_1 … S_k (±1, length d each),
 * applied right to left: S_k first. Ĥ = H/√d.
 */
export function sorfBlock(signs: Float64Array[], d: number): Float64Array {
  const step = (s: Float64Array): Float64Array => { // Π·Ĥ·diag(s)
    const m = new Float64Array(d * d);
    for (let p = 0; p < d; p++) {
      const i = outputIndex(p, d);
      for (let j = 0; j < d; j++) m[p * d + j] = ((popcount(i & j) & 1 ? -1 : 1) / Math.sqrt(d)) * s[j];
    }
    return m;
  };
  let out = step(signs[signs.length - 1]);
  for (let k = signs.length - 2; k >= 0; k--) {
    const a = step(signs[k]);
    const next = new Float64Array(d * d);
    for (let i = 0; i < d; i++) {
      for (let l = 0; l < d; l++) {
        const ail = a[i * d + l];
        for (let j = 0; j < d; j++) next[i * d + j] += ail * out[l * d + j];
      }
    }
    out = next;
  }
  return out;
}

/** v ← Π·Ĥ·S_1·…·Π·Ĥ·S_k·v in O(k·d log d) (the same block as sorfBlock, applied to one vector). */
export function sorfApply(signs: Float64Array[], v: Float64Array): Float64Array {
  const d = v.length;
  let x = Float64Array.from(v);
  for (let k = signs.length - 1; k >= 0; k--) {
    for (let i = 0; i < d; i++) x[i] *= signs[k][i];
    for (let h = 1; h < d; h *= 2) {
      for (let b = 0; b < d; b += 2 * h) {
        for (let i = b; i < b + h; i++) {
          const a = x[i];
          x[i] = a + x[i + h];
          x[i + h] = a - x[i + h];
        }
      }
    }
    const y = new Float64Array(d);
    for (let p = 0; p < d; p++) y[p] = x[outputIndex(p, d)] / Math.sqrt(d);
    x = y;
  }
  return x;
}
