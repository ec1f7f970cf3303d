// The demo's numbers, with no DOM: the page (demo/main.js) and the test (test/package/demo.test.ts, in Node)
// both call these, so the test can check the page's figures against Node's.
// Inputs come from an integer PRNG and exact arithmetic (Math.sqrt is correctly rounded everywhere), and
// the package runs its baseline SIMD build: the same parameters give the same bits in every engine.
import { exactAttention, FavorAttention, init } from 'performer-wasm';

export const KERNELS = ['softmax', 'softmax-hyperbolic', 'softmax-trig', 'relu', 'elu1', 'exp', 'abs', 'gelu'];
/** Feature counts of the error curve. */
export const CURVE_FEATURES = [8, 16, 32, 64, 128, 256, 512];
/** Projections drawn per point of the error curve (seeds seed, seed+1, …); the error is their mean. */
export const CURVE_DRAWS = 6;
/** Token clusters: queries and keys of one cluster attend to each other (a block-diagonal pattern). */
export const CLUSTERS = 6;

let loading;
/** Loads the baseline build once (bit-reproducible). */
export function ready() {
  loading ??= init(undefined, { relaxedSimd: false });
  return loading;
}

/** A 32-bit integer PRNG (mulberry32). */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Approximately standard normal numbers: the sum of 4 uniforms, centred and scaled (Irwin–Hall). */
function normals(next) {
  const s3 = Math.sqrt(3);
  return () => {
    let sum = 0;
    for (let i = 0; i < 4; i++) sum += (next() >>> 8) / 16777216;
    return (sum - 2) * s3;
  };
}

/**
 * Queries and keys for L tokens in d dimensions: token i belongs to cluster ⌊i·C/L⌋ and is its cluster's
 * centre plus noise (N(0, noise²) per entry), so the attention matrix has blocks on its diagonal. Centres
 * have ‖μ‖²/√d ≈ strength, so a query gives its own cluster's keys about e^strength times the weight of
 * the others'.
 */
export function makeInputs(L, d, seed, strength = 1.5, noise = 0.2) {
  const normal = normals(prng(seed ^ 0x9e3779b9));
  const centreScale = Math.sqrt(strength / Math.sqrt(d));
  const centres = new Float64Array(CLUSTERS * d);
  for (let i = 0; i < centres.length; i++) centres[i] = normal() * centreScale;
  const q = new Float32Array(L * d);
  const k = new Float32Array(L * d);
  for (let i = 0; i < L; i++) {
    const c = Math.floor((i * CLUSTERS) / L);
    for (let j = 0; j < d; j++) {
      q[i * d + j] = centres[c * d + j] + noise * normal();
      k[i * d + j] = centres[c * d + j] + noise * normal();
    }
  }
  return { q, k };
}

function identity(L) {
  const v = new Float32Array(L * L);
  for (let i = 0; i < L; i++) v[i * L + i] = 1;
  return v;
}

function frobenius(a, b) {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    const e = a[i] - (b ? b[i] : 0);
    num += e * e;
    den += a[i] * a[i];
  }
  return { diff: Math.sqrt(num), norm: Math.sqrt(den) };
}

/** ‖estimate − exact‖_F / ‖exact‖_F. */
export function relativeError(exact, estimate) {
  const { norm } = frobenius(exact);
  return frobenius(estimate, exact).diff / norm;
}

/**
 * The exact attention matrix and its FAVOR+ estimate for { L, d, m, kernel, seed, strength? }: with V the L×L
 * identity, attention's output is the attention matrix itself (row i: the weights query i gives each key).
 */
export function matrices({ L, d, m, kernel, seed, strength }) {
  const { q, k } = makeInputs(L, d, seed, strength);
  const v = identity(L);
  const shape = { queries: L, dim: d, valueDim: L };
  const exact = exactAttention(q, k, v, shape);
  const attn = new FavorAttention({ dim: d, features: m, kernel, seed });
  const favor = attn.forward(q, k, v, shape);
  const diff = new Float32Array(L * L);
  let maxAbs = 0;
  for (let i = 0; i < diff.length; i++) {
    diff[i] = favor[i] - exact[i];
    maxAbs = Math.max(maxAbs, Math.abs(diff[i]));
  }
  return { exact, favor, diff, error: relativeError(exact, favor), maxAbs };
}

/**
 * Relative error of the estimate against m (mean over CURVE_DRAWS projections), and the error of the
 * trivial estimate that attends uniformly (every weight 1/L), which FAVOR+ must beat to be of use.
 */
export function errorCurve({ L, d, kernel, seed, strength }, features = CURVE_FEATURES) {
  const { q, k } = makeInputs(L, d, seed, strength);
  const v = identity(L);
  const shape = { queries: L, dim: d, valueDim: L };
  const exact = exactAttention(q, k, v, shape);
  const points = features.map((m) => {
    let sum = 0;
    for (let r = 0; r < CURVE_DRAWS; r++) {
      const attn = new FavorAttention({ dim: d, features: m, kernel, seed: (seed + r) >>> 0 });
      sum += relativeError(exact, attn.forward(q, k, v, shape));
    }
    return { m, error: sum / CURVE_DRAWS };
  });
  const uniform = new Float32Array(L * L).fill(1 / L);
  return { points, uniform: relativeError(exact, uniform) };
}

/**
 * Times exact attention and FAVOR+ at one large L (one head, dv = d): the median of `repeats` runs after
 * one warm-up run each. `now` is the clock (performance.now in a page).
 */
export function timing({ L = 4096, d = 64, m = 256, kernel = 'softmax', seed = 1, repeats = 3 } = {}, now = () => performance.now()) {
  const { q, k } = makeInputs(L, d, seed);
  const v = makeInputs(L, d, seed + 1).q;
  const shape = { queries: L, dim: d };
  const attn = new FavorAttention({ dim: d, features: m, kernel, seed });
  const out = new Float32Array(L * d);
  const median = (run) => {
    run();
    const times = [];
    for (let r = 0; r < repeats; r++) {
      const t0 = now();
      run();
      times.push(now() - t0);
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)];
  };
  const exactMs = median(() => exactAttention(q, k, v, shape, { out }));
  const favorMs = median(() => attn.forward(q, k, v, shape, { out }));
  return { L, d, m, kernel, exactMs, favorMs, speedup: exactMs / favorMs };
}
