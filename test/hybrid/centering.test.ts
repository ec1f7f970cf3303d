// Key centring (docs/design.md §1b): softmax is unchanged by k_j → k_j − c; FAVOR+ variance falls when the keys
// share an offset and it is removed. Exactness against exact attention and the float64 reference; the variance
// claim as a paired statistic over fixed seeds.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import { exactAttention, FavorAttention } from '../../src/index.ts';
import { randn, relError } from '../support/data.ts';
import { throwsCode } from '../support/expect.ts';
import { windowReference } from '../reference/hybrid.ts';
import type { Shape } from '../reference/favor.ts';

const EXACT = 1e-6; // float32 exact softmax (the window holds every key), as in test/hybrid/hybrid.test.ts
const FIDELITY = 1e-5;

/** Keys with a common offset μ (the case centring is for): k = μ + N(0, σ²). */
function offsetKeys(n: number, d: number, seed: number, sigma: number, mu: Float32Array): Float32Array {
  const k = randn(n * d, seed, sigma);
  for (let i = 0; i < k.length; i++) k[i] += mu[i % d];
  return k;
}

/** The f64 centred keys of a head-major buffer: k − mean over the unmasked keys of each (batch, head). */
function centredF64(k: Float32Array, s: Shape, mask?: Uint8Array): Float64Array {
  const { dim: d, keys: L } = s;
  const out = new Float64Array(k.length);
  for (let head = 0; head < s.batch * s.heads; head++) {
    const b = Math.floor(head / s.heads);
    const mean = new Float64Array(d);
    let n = 0;
    for (let j = 0; j < L; j++) {
      if (mask && !mask[b * L + j]) continue;
      n++;
      for (let t = 0; t < d; t++) mean[t] += k[(head * L + j) * d + t];
    }
    for (let t = 0; t < d; t++) mean[t] = n ? mean[t] / n : 0;
    for (let j = 0; j < L; j++) for (let t = 0; t < d; t++) out[(head * L + j) * d + t] = k[(head * L + j) * d + t] - mean[t];
  }
  return out;
}

/** q ~ N(0, 0.5²), keys with an offset μ ~ N(0, 1) per entry, v ~ N(0, 1), a quarter of the keys masked; seeds seed … seed + 4. */
function offsetProblem(s: Shape, seed: number) {
  const mu = randn(s.dim, seed, 1);
  const q = randn(s.batch * s.heads * s.queries * s.dim, seed + 1, 0.5);
  const k = offsetKeys(s.batch * s.heads * s.keys, s.dim, seed + 2, 0.5, mu);
  const v = randn(s.batch * s.heads * s.keys * s.valueDim, seed + 3);
  const keyMask = new Uint8Array(s.batch * s.keys).map((_, i) => (i % 4 === 1 ? 0 : 1));
  return { mu, q, k, v, keyMask };
}

const SHAPES: Shape[] = [
  { batch: 1, heads: 1, queries: 1, keys: 1, dim: 1, valueDim: 1 },
  { batch: 1, heads: 1, queries: 9, keys: 20, dim: 3, valueDim: 5 },
  { batch: 2, heads: 3, queries: 40, keys: 33, dim: 8, valueDim: 4 },
];

test('centerKeys: exact attention is unchanged (the window over every key, true and a fixed shift, masks)', () => {
  SHAPES.forEach((s, n) => {
    const { mu, q, k, v, keyMask } = offsetProblem(s, 50 + n);
    const window = s.queries + s.keys;
    for (const mask of [undefined, keyMask]) {
      const exact = exactAttention(q, k, v, s, { keyMask: mask });
      for (const centerKeys of [true, mu, randn(s.dim, 90 + n, 3)]) {
        const out = new FavorAttention({ dim: s.dim, features: 12, window, centerKeys }).forward(q, k, v, s, { keyMask: mask });
        assert.ok(relError(out, exact) <= EXACT, `${JSON.stringify(s)}: ${relError(out, exact)}`);
      }
      const shift = randn(s.dim, 95 + n, 2);
      const causal = new FavorAttention({ dim: s.dim, features: 12, window, centerKeys: shift, causal: true }).forward(q, k, v, s, { keyMask: mask });
      const exactCausal = exactAttention(q, k, v, s, { keyMask: mask, causal: true });
      assert.ok(relError(causal, exactCausal) <= EXACT, `causal ${JSON.stringify(s)}: ${relError(causal, exactCausal)}`);
    }
  });
});

test('centerKeys: true is FAVOR+ (and the hybrid) on the float64-centred keys', () => {
  SHAPES.forEach((s, n) => {
    const { q, k, v, keyMask } = offsetProblem(s, 150 + n);
    for (const window of [0, 2]) {
      const attn = new FavorAttention({ dim: s.dim, features: 11, window, centerKeys: true, seed: n });
      const out = attn.forward(q, k, v, s, { keyMask });
      const ref = windowReference({ kernel: 'softmax', dim: s.dim, w: attn.projection }, q, centredF64(k, s, keyMask), v, s, { window, keyMask });
      assert.ok(relError(out, ref) <= FIDELITY, `w ${window} ${JSON.stringify(s)}: ${relError(out, ref)}`);
    }
  });
});

test('centerKeys: FAVOR+ error falls on keys with a common offset (paired over 40 projection seeds)', () => {
  // One head, d = 16, L = 64, m = 64, q, k ~ N(0, 0.3²) plus a key offset μ of norm 2·d^(1/4) (‖μ̂‖ = 2: the
  // estimator's variance ∝ exp(‖q̂ + k̂‖²) grows by ~e^4). For each seed, the same projection with and without
  // centring, error = ‖out − exact‖/‖exact‖. Under "centring does not help" each seed is a fair coin; 40 of 40
  // heads has probability 2^-40, and we require ≥ 34 (one-sided sign test: P(X ≥ 34 | p = ½) < 1e-5).
  const s: Shape = { batch: 1, heads: 1, queries: 64, keys: 64, dim: 16, valueDim: 8 };
  const direction = randn(16, 7, 1);
  const norm = Math.hypot(...direction);
  const mu = direction.map((x) => (x / norm) * 2 * 16 ** 0.25);
  let wins = 0;
  let plainSum = 0;
  let centredSum = 0;
  for (let seed = 0; seed < 40; seed++) {
    const q = randn(64 * 16, 1000 + seed, 0.3);
    const k = offsetKeys(64, 16, 2000 + seed, 0.3, mu);
    const v = randn(64 * 8, 3000 + seed);
    const exact = exactAttention(q, k, v, s);
    const plain = relError(new FavorAttention({ dim: 16, features: 64, seed }).forward(q, k, v, s), exact);
    const centred = relError(new FavorAttention({ dim: 16, features: 64, seed, centerKeys: true }).forward(q, k, v, s), exact);
    if (centred < plain) wins++;
    plainSum += plain;
    centredSum += centred;
  }
  assert.ok(wins >= 34, `centring helped on ${wins} of 40 seeds (mean error ${plainSum / 40} → ${centredSum / 40})`);
  assert.ok(centredSum < plainSum / 2, `mean error ${plainSum / 40} → ${centredSum / 40}`);
});

test('centerKeys: the gradient with respect to k goes through the centring', () => {
  // loss = Σ out ⊙ dOut; central differences (step 1e-2) of the float32 forward: truncation O(h²) ≈ 1e-4 and
  // rounding ≈ 1e-7/h = 1e-5 relative, so 1e-3 leaves a margin (measured 1.2e-4); the gradient without the
  // centring's −mean(g) term is off by ~1 (measured 1.05).
  const s: Shape = { batch: 1, heads: 1, queries: 6, keys: 7, dim: 3, valueDim: 2 };
  const q = randn(18, 1, 0.5);
  const k = offsetKeys(7, 3, 2, 0.5, new Float32Array([1, -1, 0.5]));
  const v = randn(14, 3);
  const dOut = randn(12, 4);
  const attn = new FavorAttention({ dim: 3, features: 64, centerKeys: true, seed: 3 });
  const { dk } = attn.backward(q, k, v, dOut, s);
  const loss = (kk: Float32Array) => attn.forward(q, kk, v, s).reduce((acc, o, i) => acc + o * dOut[i], 0);
  const h = 1e-2;
  const fd = new Float64Array(k.length);
  for (let i = 0; i < k.length; i++) {
    const up = k.slice(); up[i] += h;
    const down = k.slice(); down[i] -= h;
    fd[i] = (loss(up) - loss(down)) / (2 * h);
  }
  const err = relError(dk, fd);
  assert.ok(err <= 1e-3, `dk vs finite differences: ${err}`);
});

test('centerKeys: bad values are INVALID_OPTION', () => {
  throwsCode(() => new FavorAttention({ dim: 4, causal: true, centerKeys: true }), 'INVALID_OPTION');
  throwsCode(() => new FavorAttention({ dim: 4, centerKeys: new Float32Array(3) }), 'INVALID_OPTION');
  throwsCode(() => new FavorAttention({ dim: 4, centerKeys: new Float64Array(4) as never }), 'INVALID_OPTION');
  throwsCode(() => new FavorAttention({ dim: 4, centerKeys: new Float32Array([0, NaN, 0, 0]) }), 'INVALID_OPTION');
  throwsCode(() => new FavorAttention({ dim: 4, centerKeys: 'yes' as never }), 'INVALID_OPTION');
  throwsCode(() => new FavorAttention({ dim: 4, kernel: 'relu', centerKeys: true }), 'INVALID_OPTION');
  throwsCode(() => new FavorAttention({ dim: 4, centerKeys: true }).decoder(), 'INVALID_OPTION');
  new FavorAttention({ dim: 4, causal: true, centerKeys: new Float32Array(4) }); // a fixed shift is fine causal
});

test.run();
