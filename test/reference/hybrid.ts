// Float64 reference of the hybrid estimator (docs/design.md §1b), without stabilizers, written for clarity:
//   out_i = (Σ_{j∈N(i)} exp(q̂_i·k̂_j)·v_j + Σ_{j∉N(i)} φ(q_i)·φ(k_j)·v_j) / (the same sums without v_j)
// over unmasked keys j (and, causal, j ≤ p_i), with query i aligned to key p_i = i + (keys − queries) and
// N(i) = [p_i − w, p_i + w] (bidirectional) or [p_i − w, p_i] (causal); w = 0 means no window (plain FAVOR+,
// the option's default), not the diagonal alone. A query that sees no key gets zeros. estimateLogScale β multiplies
// every FAVOR+ weight by e^β (the hybrid's scale of the estimate; it cancels without a window).
import { featureVector, type FavorReferenceConfig, type Shape } from './favor.ts';

export interface WindowReferenceOptions {
  window: number;
  causal?: boolean;
  keyMask?: Uint8Array;
  estimateLogScale?: number;
}

export function windowReference(cfg: FavorReferenceConfig, q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>,
                                s: Shape, o: WindowReferenceOptions): Float64Array {
  const { dim: d, valueDim: dv, queries: Lq, keys: Lk } = s;
  const w = o.window;
  const scale = Math.exp(o.estimateLogScale ?? 0);
  const out = new Float64Array(s.batch * s.heads * Lq * dv);
  const row = (x: ArrayLike<number>, at: number, n: number) => Array.from({ length: n }, (_, t) => x[at + t]);
  for (let b = 0; b < s.batch; b++) {
    for (let h = 0; h < s.heads; h++) {
      const head = b * s.heads + h;
      const phiK = Array.from({ length: Lk }, (_, j) => featureVector(cfg, row(k, (head * Lk + j) * d, d)));
      for (let i = 0; i < Lq; i++) {
        const qi = row(q, (head * Lq + i) * d, d);
        const phiQ = featureVector(cfg, qi);
        const p = i + Lk - Lq;
        let den = 0;
        const num = new Float64Array(dv);
        for (let j = 0; j < Lk; j++) {
          if (o.keyMask && !o.keyMask[b * Lk + j]) continue;
          if (o.causal && j > p) continue;
          let weight = 0;
          if (w > 0 && j >= p - w && j <= p + w) {
            let dotqk = 0;
            for (let t = 0; t < d; t++) dotqk += qi[t] * k[(head * Lk + j) * d + t];
            weight = Math.exp(dotqk / Math.sqrt(d));
          } else {
            for (let r = 0; r < phiQ.length; r++) weight += phiQ[r] * phiK[j][r];
            weight *= scale;
          }
          den += weight;
          for (let c = 0; c < dv; c++) num[c] += weight * v[(head * Lk + j) * dv + c];
        }
        for (let c = 0; c < dv; c++) out[(head * Lq + i) * dv + c] = den === 0 ? 0 : num[c] / den;
      }
    }
  }
  return out;
}
