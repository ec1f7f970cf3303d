// Float64 reference of the FAVOR+ estimator with a given projection: the formulas of docs/design.md §1,
// without stabilizers (they cancel mathematically), written for clarity, not speed.
import type { KernelName } from '../../src/feature-maps/kernels.ts';

export interface FavorReferenceConfig {
  kernel: KernelName;
  dim: number;
  /** m×dim projection (float32 values used exactly), or null for projection 'none'. */
  w: Float32Array | null;
  epsilon?: number;
}

const GELU_K = 2 * Math.sqrt(2 / Math.PI);

function pointwise(kernel: KernelName, x: number): number {
  switch (kernel) {
    case 'relu': return Math.max(x, 0);
    case 'abs': return Math.abs(x);
    case 'elu1': return x > 0 ? x + 1 : Math.exp(x);
    case 'exp': return Math.exp(x);
    case 'gelu': return x / (1 + Math.exp(-GELU_K * (x + 0.044715 * x ** 3)));
    default: throw new Error(`not a generalized kernel: ${kernel}`);
  }
}

/** φ(x) for one row x (dim values), as float64. */
export function featureVector(cfg: FavorReferenceConfig, x: ArrayLike<number>): Float64Array {
  const d = cfg.dim;
  const softmax = cfg.kernel.startsWith('softmax');
  const m = cfg.w ? cfg.w.length / d : d;
  const s = softmax ? d ** -0.25 : 1;
  const u = new Float64Array(m);
  let h = 0;
  for (let t = 0; t < d; t++) h += (x[t] * s) ** 2 / 2;
  for (let r = 0; r < m; r++) {
    if (!cfg.w) { u[r] = x[r]; continue; }
    let acc = 0;
    for (let t = 0; t < d; t++) acc += cfg.w[r * d + t] * x[t] * s;
    u[r] = acc;
  }
  if (cfg.kernel === 'softmax') return u.map((ur) => Math.exp(ur - h) / Math.sqrt(m));
  if (cfg.kernel === 'softmax-hyperbolic') {
    const phi = new Float64Array(2 * m);
    for (let r = 0; r < m; r++) {
      phi[r] = Math.exp(u[r] - h) / Math.sqrt(2 * m);
      phi[m + r] = Math.exp(-u[r] - h) / Math.sqrt(2 * m);
    }
    return phi;
  }
  if (cfg.kernel === 'softmax-hyperbolic-normalized') {
    // a·[softmax(u), softmax(−u)]: each half's log-sum-exp instead of ‖x̂‖²/2
    const lse = (sign: number) => {
      const top = Math.max(...u.map((ur) => sign * ur));
      return top + Math.log(u.reduce((acc, ur) => acc + Math.exp(sign * ur - top), 0));
    };
    const [plus, minus] = [lse(1), lse(-1)];
    const phi = new Float64Array(2 * m);
    for (let r = 0; r < m; r++) {
      phi[r] = Math.exp(u[r] - plus) / Math.sqrt(2 * m);
      phi[m + r] = Math.exp(-u[r] - minus) / Math.sqrt(2 * m);
    }
    return phi;
  }
  if (cfg.kernel === 'softmax-trig') {
    const phi = new Float64Array(2 * m);
    for (let r = 0; r < m; r++) {
      phi[r] = Math.exp(h) * Math.sin(u[r]) / Math.sqrt(m);
      phi[m + r] = Math.exp(h) * Math.cos(u[r]) / Math.sqrt(m);
    }
    return phi;
  }
  const a = cfg.w ? 1 / Math.sqrt(m) : 1;
  const eps = cfg.epsilon ?? 1e-3;
  return u.map((ur) => a * pointwise(cfg.kernel, ur) + eps);
}

export interface Shape {
  batch: number; heads: number; queries: number; keys: number; dim: number; valueDim: number;
}

/** S += φ vᵀ, z += φ for one key (v from offset vAt). */
function addKey(phi: Float64Array, v: ArrayLike<number>, vAt: number, dv: number, S: Float64Array, z: Float64Array): void {
  for (let r = 0; r < phi.length; r++) {
    z[r] += phi[r];
    for (let c = 0; c < dv; c++) S[r * dv + c] += phi[r] * v[vAt + c];
  }
}

/** out[at..at+dv) = φᵀS / φᵀz (0 where the denominator is 0). */
function readOut(phi: Float64Array, S: Float64Array, z: Float64Array, dv: number, out: Float64Array, at: number): void {
  let den = 0;
  for (let r = 0; r < phi.length; r++) den += phi[r] * z[r];
  for (let c = 0; c < dv; c++) {
    let num = 0;
    for (let r = 0; r < phi.length; r++) num += phi[r] * S[r * dv + c];
    out[at + c] = den === 0 ? 0 : num / den;
  }
}

/**
 * Bidirectional FAVOR+ in float64, linear form: S = Σ_j φ(k_j)v_jᵀ and z = Σ_j φ(k_j) over kept keys,
 * out_i = φ(q_i)ᵀS / φ(q_i)ᵀz (0 where the denominator is 0).
 */
export function favorReference(cfg: FavorReferenceConfig, q: Float32Array, k: Float32Array, v: Float32Array, s: Shape,
                               keyMask?: Uint8Array): Float64Array {
  const { dim: d, valueDim: dv, queries: Lq, keys: Lk } = s;
  const out = new Float64Array(s.batch * s.heads * Lq * dv);
  for (let b = 0; b < s.batch; b++) {
    for (let hd = 0; hd < s.heads; hd++) {
      const head = b * s.heads + hd;
      let S: Float64Array | undefined;
      let z: Float64Array | undefined;
      for (let j = 0; j < Lk; j++) {
        if (keyMask && !keyMask[b * Lk + j]) continue;
        const phi = featureVector(cfg, k.subarray((head * Lk + j) * d, (head * Lk + j + 1) * d));
        S ??= new Float64Array(phi.length * dv);
        z ??= new Float64Array(phi.length);
        addKey(phi, v, (head * Lk + j) * dv, dv, S, z);
      }
      if (!S || !z) continue; // every key masked: zeros
      for (let i = 0; i < Lq; i++) {
        readOut(featureVector(cfg, q.subarray((head * Lq + i) * d, (head * Lq + i + 1) * d)), S, z, dv, out, (head * Lq + i) * dv);
      }
    }
  }
  return out;
}

/**
 * Conditioning of each query's denominator: κ_i = Σ_r |φ(q_i)_r|·Σ_j |φ(k_j)_r| / |φ(q_i)ᵀz|.
 * κ = 1 for positive features; kernels whose features can be negative (trig, gelu) can cancel, and
 * then any float32 rounding is amplified by κ. Infinity where the denominator is 0.
 */
export function favorConditioning(cfg: FavorReferenceConfig, q: Float32Array, k: Float32Array, s: Shape,
                                  keyMask?: Uint8Array): Float64Array {
  const { dim: d, queries: Lq, keys: Lk } = s;
  const kappa = new Float64Array(s.batch * s.heads * Lq);
  for (let b = 0; b < s.batch; b++) {
    for (let hd = 0; hd < s.heads; hd++) {
      const head = b * s.heads + hd;
      let z: Float64Array | undefined;
      let zAbs: Float64Array | undefined;
      for (let j = 0; j < Lk; j++) {
        if (keyMask && !keyMask[b * Lk + j]) continue;
        const phi = featureVector(cfg, k.subarray((head * Lk + j) * d, (head * Lk + j + 1) * d));
        z ??= new Float64Array(phi.length);
        zAbs ??= new Float64Array(phi.length);
        for (let r = 0; r < phi.length; r++) {
          z[r] += phi[r];
          zAbs[r] += Math.abs(phi[r]);
        }
      }
      for (let i = 0; i < Lq; i++) {
        if (!z || !zAbs) { kappa[head * Lq + i] = 1; continue; }
        const phi = featureVector(cfg, q.subarray((head * Lq + i) * d, (head * Lq + i + 1) * d));
        let den = 0;
        let bound = 0;
        for (let r = 0; r < phi.length; r++) {
          den += phi[r] * z[r];
          bound += Math.abs(phi[r]) * zAbs[r];
        }
        kappa[head * Lq + i] = bound / Math.abs(den);
      }
    }
  }
  return kappa;
}

/** Query i sees key j when j ≤ i + (keys − queries) and the key is kept. */
function visible(i: number, j: number, s: Shape, keyMask: Uint8Array | undefined, b: number): boolean {
  return j <= i + s.keys - s.queries && (!keyMask || keyMask[b * s.keys + j] !== 0);
}

/**
 * Causal FAVOR+ in float64, quadratic form: builds the masked matrix tril(φ(Q)φ(K)ᵀ) explicitly and
 * normalizes its rows. O(L²·M): for small L.
 */
export function favorCausalQuadratic(cfg: FavorReferenceConfig, q: Float32Array, k: Float32Array, v: Float32Array, s: Shape,
                                     keyMask?: Uint8Array): Float64Array {
  const { dim: d, valueDim: dv, queries: Lq, keys: Lk } = s;
  const out = new Float64Array(s.batch * s.heads * Lq * dv);
  for (let b = 0; b < s.batch; b++) {
    for (let hd = 0; hd < s.heads; hd++) {
      const head = b * s.heads + hd;
      const phiK = Array.from({ length: Lk }, (_, j) => featureVector(cfg, k.subarray((head * Lk + j) * d, (head * Lk + j + 1) * d)));
      for (let i = 0; i < Lq; i++) {
        const phiQ = featureVector(cfg, q.subarray((head * Lq + i) * d, (head * Lq + i + 1) * d));
        const row = phiK.map((pk, j) => (visible(i, j, s, keyMask, b) ? pk.reduce((acc, x, r) => acc + x * phiQ[r], 0) : 0));
        const den = row.reduce((acc, x) => acc + x, 0);
        for (let c = 0; c < dv; c++) {
          const num = row.reduce((acc, a, j) => acc + a * v[(head * Lk + j) * dv + c], 0);
          out[(head * Lq + i) * dv + c] = den === 0 ? 0 : num / den;
        }
      }
    }
  }
  return out;
}

/** Causal FAVOR+ in float64, linear form: prefix sums of φ(k_j)v_jᵀ and φ(k_j). O(L·M·dv). */
export function favorCausalReference(cfg: FavorReferenceConfig, q: Float32Array, k: Float32Array, v: Float32Array, s: Shape,
                                     keyMask?: Uint8Array): Float64Array {
  const { dim: d, valueDim: dv, queries: Lq, keys: Lk } = s;
  const out = new Float64Array(s.batch * s.heads * Lq * dv);
  for (let b = 0; b < s.batch; b++) {
    for (let hd = 0; hd < s.heads; hd++) {
      const head = b * s.heads + hd;
      let S: Float64Array | undefined;
      let z: Float64Array | undefined;
      let j = 0;
      for (let i = 0; i < Lq; i++) {
        for (; j <= i + Lk - Lq; j++) {
          const phi = featureVector(cfg, k.subarray((head * Lk + j) * d, (head * Lk + j + 1) * d));
          S ??= new Float64Array(phi.length * dv);
          z ??= new Float64Array(phi.length);
          if (keyMask && !keyMask[b * Lk + j]) continue;
          addKey(phi, v, (head * Lk + j) * dv, dv, S, z);
        }
        if (!S || !z) continue;
        readOut(featureVector(cfg, q.subarray((head * Lq + i) * d, (head * Lq + i + 1) * d)), S, z, dv, out, (head * Lq + i) * dv);
      }
    }
  }
  return out;
}
