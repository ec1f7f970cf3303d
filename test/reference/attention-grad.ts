// Float64 reference of the gradients of exact softmax attention (the oracle for exactAttentionBackward),
// written for clarity and not speed. Same shapes, layout, causal convention and masking as attention.ts.
//
// For one (batch, head) and query i over its visible keys j (mask ≠ 0 and, if causal, j ≤ i + keys − queries):
//   P_ij = softmax_j(scale·q_i·k_j),  out_i = Σ_j P_ij v_j
//   dv_j += P_ij·dOut_i
//   dP_ij = dOut_i·v_j,  D_i = Σ_j P_ij dP_ij (= dOut_i·out_i),  dS_ij = P_ij (dP_ij − D_i)
//   dq_i += scale·Σ_j dS_ij k_j,  dk_j += scale·dS_ij q_i
// A query that sees no key (out_i = 0) contributes nothing.
import type { ReferenceOptions, ReferenceShape } from './attention.ts';

export interface ReferenceGradients {
  dq: Float64Array;
  dk: Float64Array;
  dv: Float64Array;
}

export function referenceAttentionGrad(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, dOut: ArrayLike<number>,
                                       shape: ReferenceShape, options: ReferenceOptions = {}): ReferenceGradients {
  const batch = shape.batch ?? 1;
  const heads = shape.heads ?? 1;
  const Lq = shape.queries;
  const Lk = shape.keys ?? Lq;
  const d = shape.dim;
  const dvDim = shape.valueDim ?? d;
  const scale = options.scale ?? 1 / Math.sqrt(d);
  const mask = options.keyMask;
  const dq = new Float64Array(batch * heads * Lq * d);
  const dk = new Float64Array(batch * heads * Lk * d);
  const dv = new Float64Array(batch * heads * Lk * dvDim);
  const p = new Float64Array(Lk);
  const dp = new Float64Array(Lk);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const head = b * heads + h;
      for (let i = 0; i < Lq; i++) {
        const qo = (head * Lq + i) * d;
        const go = (head * Lq + i) * dvDim;
        const last = options.causal ? Math.min(Lk - 1, i + Lk - Lq) : Lk - 1;
        const visible: number[] = [];
        for (let j = 0; j <= last; j++) if (!mask || mask[b * Lk + j] !== 0) visible.push(j);
        if (visible.length === 0) continue;
        let max = -Infinity;
        for (const j of visible) {
          const ko = (head * Lk + j) * d;
          let s = 0;
          for (let t = 0; t < d; t++) s += q[qo + t] * k[ko + t];
          p[j] = s * scale;
          if (p[j] > max) max = p[j];
        }
        let sum = 0;
        for (const j of visible) {
          p[j] = Math.exp(p[j] - max);
          sum += p[j];
        }
        let D = 0;
        for (const j of visible) {
          p[j] /= sum;
          const vo = (head * Lk + j) * dvDim;
          let s = 0;
          for (let c = 0; c < dvDim; c++) {
            s += dOut[go + c] * v[vo + c];
            dv[vo + c] += p[j] * dOut[go + c];
          }
          dp[j] = s;
          D += p[j] * s;
        }
        for (const j of visible) {
          const ds = p[j] * (dp[j] - D) * scale;
          const ko = (head * Lk + j) * d;
          for (let t = 0; t < d; t++) {
            dq[qo + t] += ds * k[ko + t];
            dk[ko + t] += ds * q[qo + t];
          }
        }
      }
    }
  }
  return { dq, dk, dv };
}
