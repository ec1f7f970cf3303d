// Float64 gradients of the FAVOR+ estimator (test/reference/favor.ts), unstabilized, by the chain
// rule written out: through the attention (quadratic form, or the linear two-sweep form for long
// causal sequences) and through each feature map. Checked against finite differences in the tests.
import type { KernelName } from '../../src/feature-maps/kernels.ts';
import { featureVector, type FavorReferenceConfig, type Shape } from './favor.ts';

const GELU_K = 2 * Math.sqrt(2 / Math.PI);

function derivative(kernel: KernelName, x: number): number {
  switch (kernel) {
    case 'relu': return x > 0 ? 1 : 0;
    case 'abs': return Math.sign(x);
    case 'elu1': return x > 0 ? 1 : Math.exp(x);
    case 'exp': return Math.exp(x);
    case 'gelu': {
      const t = GELU_K * (x + 0.044715 * x ** 3);
      const sg = 1 / (1 + Math.exp(-t));
      return sg + x * sg * (1 - sg) * GELU_K * (1 + 3 * 0.044715 * x * x);
    }
    default: throw new Error(kernel);
  }
}

/** dx = (∂φ/∂x)ᵀ dphi for one row x. */
export function featureVJP(cfg: FavorReferenceConfig, x: ArrayLike<number>, dphi: ArrayLike<number>): Float64Array {
  return featureVJPWithU(cfg, x, dphi).dx;
}

/**
 * dx = (∂φ/∂x)ᵀ dphi and du = ∂loss/∂u (u = W·x̂) for one row x: the gradient of the projection is
 * dW = Σ_rows du·x̂ᵀ (projectionGradient).
 */
export function featureVJPWithU(cfg: FavorReferenceConfig, x: ArrayLike<number>, dphi: ArrayLike<number>): { dx: Float64Array; du: Float64Array } {
  const d = cfg.dim;
  const softmax = cfg.kernel.startsWith('softmax');
  const m = cfg.w ? cfg.w.length / d : d;
  const s = softmax ? d ** -0.25 : 1;
  const phi = featureVector(cfg, x);
  const du = new Float64Array(m);
  let dh = 0;
  const u = new Float64Array(m);
  for (let r = 0; r < m; r++) {
    if (!cfg.w) { u[r] = x[r]; continue; }
    for (let t = 0; t < d; t++) u[r] += cfg.w[r * d + t] * x[t] * s;
  }
  for (let r = 0; r < m; r++) {
    if (cfg.kernel === 'softmax') { du[r] = dphi[r] * phi[r]; dh -= du[r]; }
    else if (cfg.kernel === 'softmax-hyperbolic') {
      const plus = dphi[r] * phi[r];
      const minus = dphi[m + r] * phi[m + r];
      du[r] = plus - minus;
      dh -= plus + minus;
    } else if (cfg.kernel === 'softmax-hyperbolic-normalized') {
      // softmax Jacobian of each half: φ(dφ − ⟨φ, dφ⟩/a), a = Σ of the half's features
      let sp = 0, sm = 0, dp = 0, dm = 0;
      for (let t = 0; t < m; t++) { sp += phi[t]; sm += phi[m + t]; dp += phi[t] * dphi[t]; dm += phi[m + t] * dphi[m + t]; }
      du[r] = phi[r] * (dphi[r] - dp / sp) - phi[m + r] * (dphi[m + r] - dm / sm);
    } else if (cfg.kernel === 'softmax-trig') {
      du[r] = dphi[r] * phi[m + r] - dphi[m + r] * phi[r];
      dh += dphi[r] * phi[r] + dphi[m + r] * phi[m + r];
    } else {
      du[r] = (cfg.w ? 1 / Math.sqrt(m) : 1) * derivative(cfg.kernel, u[r]) * dphi[r];
    }
  }
  const dx = new Float64Array(d);
  for (let t = 0; t < d; t++) {
    if (!cfg.w) dx[t] = du[t];
    else for (let r = 0; r < m; r++) dx[t] += du[r] * cfg.w[r * d + t] * s;
    if (softmax) dx[t] += dh * s * s * x[t]; // h = s²‖x‖²/2
  }
  return { dx, du };
}

/** dW += du·x̂ᵀ (m × dim), x̂ = x·d^(-1/4) for the softmax kernels. */
function addProjectionGradient(cfg: FavorReferenceConfig, x: ArrayLike<number>, du: Float64Array, dW: Float64Array): void {
  const d = cfg.dim;
  const s = cfg.kernel.startsWith('softmax') ? d ** -0.25 : 1;
  for (let r = 0; r < du.length; r++) for (let t = 0; t < d; t++) dW[r * d + t] += du[r] * x[t] * s;
}

export interface Grad64 { dq: Float64Array; dk: Float64Array; dv: Float64Array; dW?: Float64Array }

/** Gradients of the bidirectional or causal estimator, quadratic form (small L). */
export function favorGradQuadratic(cfg: FavorReferenceConfig, q: Float32Array, k: Float32Array, v: Float32Array, dOut: Float32Array,
                                   s: Shape, causal: boolean, keyMask?: Uint8Array): Grad64 {
  const { dim: d, valueDim: dv, queries: Lq, keys: Lk } = s;
  const g: Grad64 = { dq: new Float64Array(q.length), dk: new Float64Array(k.length), dv: new Float64Array(v.length) };
  for (let b = 0; b < s.batch; b++) {
    for (let hd = 0; hd < s.heads; hd++) {
      const head = b * s.heads + hd;
      const rowQ = (i: number) => q.subarray((head * Lq + i) * d, (head * Lq + i + 1) * d);
      const rowK = (j: number) => k.subarray((head * Lk + j) * d, (head * Lk + j + 1) * d);
      const phiQ = Array.from({ length: Lq }, (_, i) => featureVector(cfg, rowQ(i)));
      const phiK = Array.from({ length: Lk }, (_, j) => featureVector(cfg, rowK(j)));
      const M = phiK[0].length;
      const dphiQ = phiQ.map(() => new Float64Array(M));
      const dphiK = phiK.map(() => new Float64Array(M));
      for (let i = 0; i < Lq; i++) {
        const w = phiK.map((pk, j) => {
          const seen = (!causal || j <= i + Lk - Lq) && (!keyMask || keyMask[b * Lk + j] !== 0);
          return seen ? pk.reduce((acc, x, r) => acc + x * phiQ[i][r], 0) : 0;
        });
        const den = w.reduce((acc, x) => acc + x, 0);
        if (den === 0) continue;
        const out = new Float64Array(dv);
        w.forEach((wj, j) => { for (let c = 0; c < dv; c++) out[c] += wj * v[(head * Lk + j) * dv + c] / den; });
        const go = dOut.subarray((head * Lq + i) * dv, (head * Lq + i + 1) * dv);
        const dden = -go.reduce((acc, x, c) => acc + x * out[c], 0) / den;
        w.forEach((wj, j) => {
          const seen = (!causal || j <= i + Lk - Lq) && (!keyMask || keyMask[b * Lk + j] !== 0);
          if (!seen) return;
          let dw = dden;
          for (let c = 0; c < dv; c++) {
            dw += (go[c] / den) * v[(head * Lk + j) * dv + c];
            g.dv[(head * Lk + j) * dv + c] += wj * go[c] / den;
          }
          for (let r = 0; r < M; r++) {
            dphiQ[i][r] += dw * phiK[j][r];
            dphiK[j][r] += dw * phiQ[i][r];
          }
        });
      }
      if (cfg.w) g.dW ??= new Float64Array(cfg.w.length);
      for (let i = 0; i < Lq; i++) {
        const { dx, du } = featureVJPWithU(cfg, rowQ(i), dphiQ[i]);
        g.dq.set(dx, (head * Lq + i) * d);
        if (g.dW) addProjectionGradient(cfg, rowQ(i), du, g.dW);
      }
      for (let j = 0; j < Lk; j++) {
        const { dx, du } = featureVJPWithU(cfg, rowK(j), dphiK[j]);
        g.dk.set(dx, (head * Lk + j) * d);
        if (g.dW) addProjectionGradient(cfg, rowK(j), du, g.dW);
      }
    }
  }
  return g;
}

/**
 * Causal gradients of one head of the positive ('softmax') estimator (queries = keys = L, no mask),
 * linear form: prefix sums for dq, then suffix sums for dk and dv. Written with flat float64 loops:
 * it is the reference of the L = 65536 test.
 */
export function favorCausalGradLinear(w: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, dOut: Float32Array,
                                      L: number, d: number, dv: number): Grad64 {
  const M = w.length / d;
  const s = d ** -0.25;
  const W = Float64Array.from(w, (x) => x * s); // rows of W·d^(-1/4)
  const phi = (x: Float32Array, row: number, out: Float64Array) => {
    let h = 0;
    for (let t = 0; t < d; t++) h += (x[row * d + t] * s) ** 2 / 2;
    for (let r = 0; r < M; r++) {
      let u = 0;
      for (let t = 0; t < d; t++) u += W[r * d + t] * x[row * d + t];
      out[r] = Math.exp(u - h) / Math.sqrt(M);
    }
  };
  // dx from dφ for the positive map: s·Wᵀ(g) − s²(Σg)·x with g = dφ ⊙ φ
  const vjp = (x: Float32Array, row: number, p: Float64Array, dphi: Float64Array, out: Float64Array) => {
    let sum = 0;
    for (let r = 0; r < M; r++) { dphi[r] *= p[r]; sum += dphi[r]; }
    for (let t = 0; t < d; t++) {
      let acc = -sum * s * s * x[row * d + t];
      for (let r = 0; r < M; r++) acc += dphi[r] * W[r * d + t];
      out[row * d + t] = acc;
    }
  };
  const g: Grad64 = { dq: new Float64Array(L * d), dk: new Float64Array(L * d), dv: new Float64Array(L * dv) };
  const S = new Float64Array(M * dv);
  const z = new Float64Array(M);
  const pq = new Float64Array(M);
  const pk = new Float64Array(M);
  const dphi = new Float64Array(M);
  const out = new Float64Array(dv);
  const dnum = new Float64Array(L * dv);
  const dden = new Float64Array(L);
  for (let i = 0; i < L; i++) {
    phi(k, i, pk);
    for (let r = 0; r < M; r++) {
      z[r] += pk[r];
      for (let c = 0; c < dv; c++) S[r * dv + c] += pk[r] * v[i * dv + c];
    }
    phi(q, i, pq);
    let den = 0;
    for (let r = 0; r < M; r++) den += pq[r] * z[r];
    out.fill(0);
    for (let r = 0; r < M; r++) for (let c = 0; c < dv; c++) out[c] += pq[r] * S[r * dv + c];
    let dot = 0;
    for (let c = 0; c < dv; c++) {
      dnum[i * dv + c] = dOut[i * dv + c] / den;
      dot += dOut[i * dv + c] * out[c] / den;
    }
    dden[i] = -dot / den;
    for (let r = 0; r < M; r++) {
      let acc = z[r] * dden[i];
      for (let c = 0; c < dv; c++) acc += S[r * dv + c] * dnum[i * dv + c];
      dphi[r] = acc;
    }
    vjp(q, i, pq, dphi, g.dq);
  }
  const R = S.fill(0);
  const r1 = z.fill(0);
  for (let j = L - 1; j >= 0; j--) {
    phi(q, j, pq);
    for (let r = 0; r < M; r++) {
      r1[r] += pq[r] * dden[j];
      for (let c = 0; c < dv; c++) R[r * dv + c] += pq[r] * dnum[j * dv + c];
    }
    phi(k, j, pk);
    for (let r = 0; r < M; r++) {
      let acc = r1[r];
      for (let c = 0; c < dv; c++) acc += R[r * dv + c] * v[j * dv + c];
      dphi[r] = acc;
    }
    for (let c = 0; c < dv; c++) {
      let acc = 0;
      for (let r = 0; r < M; r++) acc += R[r * dv + c] * pk[r];
      g.dv[j * dv + c] = acc;
    }
    vjp(k, j, pk, dphi, g.dk);
  }
  return g;
}
