// Hybrid attention (exact window + FAVOR+, docs/design.md §1b): against the float64 reference of the hybrid
// estimator (test/reference/hybrid.ts), against exact attention when the window holds every key, bit for bit
// against plain FAVOR+ with window 0, and the bad options.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import { exactAttention, FavorAttention, type KernelName } from '../../src/index.ts';
import { allFinite, randn, relError } from '../support/data.ts';
import { throwsCode } from '../support/expect.ts';
import { windowReference } from '../reference/hybrid.ts';
import type { Shape } from '../reference/favor.ts';

// Against the float64 hybrid estimator: float32 features, logits and read-out sums (a few 1e-7 relative, as in
// test/favor/favor.test.ts), plus, bidirectional, the subtraction of the window's own φ(q)·φ(k) from the whole state.
const FIDELITY = 1e-5;
// With the window over every key the FAVOR+ part is dropped (not subtracted): float32 exact softmax.
const EXACT = 1e-6;

interface Case {
  queries: number; keys?: number; dim: number; valueDim?: number; batch?: number; heads?: number;
  features: number; window: number; chunkSize?: number; masked?: boolean;
}

function shapeOf(c: Case): Shape {
  return { batch: c.batch ?? 1, heads: c.heads ?? 1, queries: c.queries, keys: c.keys ?? c.queries, dim: c.dim, valueDim: c.valueDim ?? c.dim };
}

function problem(s: Shape, seed: number, sigma: number, masked?: boolean) {
  const bh = s.batch * s.heads;
  const q = randn(bh * s.queries * s.dim, seed + 1, sigma);
  const k = randn(bh * s.keys * s.dim, seed + 2, sigma);
  const v = randn(bh * s.keys * s.valueDim, seed + 3);
  let keyMask: Uint8Array | undefined;
  if (masked) {
    keyMask = new Uint8Array(s.batch * s.keys).map((_, i) => ((i * 7 + seed) % 3 === 0 ? 0 : 1));
    if (s.batch > 1) keyMask.fill(0, 0, s.keys); // batch 0 fully masked: zeros
  }
  return { q, k, v, keyMask };
}

// odd sizes: L = 1, d = 1, m not a multiple of 4 nor of d, Lq ≠ Lk both ways, dv ≠ d, masks, chunk boundaries
// inside the window, a window longer than a chunk, several heads
const CASES: Case[] = [
  { queries: 1, dim: 1, features: 1, window: 1 },
  { queries: 1, keys: 9, dim: 4, features: 7, window: 2 },
  { queries: 9, keys: 1, dim: 3, features: 5, window: 1 },
  { queries: 7, keys: 3, dim: 3, features: 7, window: 1 },
  { queries: 33, dim: 5, valueDim: 2, features: 13, window: 3, chunkSize: 16 },
  { queries: 65, keys: 130, dim: 16, valueDim: 9, features: 30, window: 5, chunkSize: 32 },
  { queries: 130, keys: 65, dim: 16, valueDim: 9, features: 30, window: 5, chunkSize: 32 },
  { queries: 100, dim: 8, features: 21, window: 40, chunkSize: 16 }, // window longer than a chunk
  { queries: 70, dim: 6, valueDim: 11, features: 10, window: 7, chunkSize: 13, masked: true, batch: 2, heads: 2 },
  { queries: 50, keys: 90, dim: 9, features: 18, window: 16, chunkSize: 24, masked: true, batch: 2 },
  { queries: 257, dim: 32, features: 64, window: 16 }, // default chunk
];

const KERNELS: KernelName[] = ['softmax', 'softmax-hyperbolic', 'softmax-trig'];

for (const causal of [false, true]) {
  for (const kernel of KERNELS) {
    test(`window ${causal ? 'causal' : 'bidirectional'} ${kernel}: against the float64 hybrid estimator (≤ ${FIDELITY})`, () => {
      CASES.forEach((c, n) => {
        const s = shapeOf(c);
        const seed = 100 + n;
        // trig features cancel in φ(q)ᵀz (test/favor/favor.test.ts): a smaller σ keeps the rows well conditioned
        const { q, k, v, keyMask } = problem(s, seed, kernel === 'softmax-trig' ? 0.2 : 0.5, c.masked);
        const attn = new FavorAttention({ dim: c.dim, features: c.features, kernel, causal, seed, window: c.window, chunkSize: c.chunkSize });
        const out = attn.forward(q, k, v, s, { keyMask });
        const ref = windowReference({ kernel, dim: c.dim, w: attn.projection }, q, k, v, s, { window: c.window, causal, keyMask });
        assert.ok(allFinite(out), `finite: ${JSON.stringify(c)}`);
        const err = relError(out, ref);
        assert.ok(err <= FIDELITY, `${JSON.stringify(c)}: ${err}`);
      });
    });
  }

  test(`window ${causal ? 'causal' : 'bidirectional'}: w ≥ L equals exact attention (≤ ${EXACT})`, () => {
    CASES.forEach((c, n) => {
      const s = shapeOf(c);
      const { q, k, v, keyMask } = problem(s, 200 + n, 0.5, c.masked);
      for (const kernel of KERNELS) {
        const attn = new FavorAttention({ dim: c.dim, features: c.features, kernel, causal, seed: n, window: s.queries + s.keys, chunkSize: c.chunkSize });
        const out = attn.forward(q, k, v, s, { keyMask });
        const exact = exactAttention(q, k, v, s, { causal, keyMask });
        const err = relError(out, exact);
        assert.ok(err <= EXACT, `${kernel} ${JSON.stringify(c)}: ${err}`);
      }
    });
  });

  test(`window ${causal ? 'causal' : 'bidirectional'}: window 0 is plain FAVOR+, bit for bit`, () => {
    CASES.forEach((c, n) => {
      const s = shapeOf(c);
      const { q, k, v, keyMask } = problem(s, 300 + n, 0.5, c.masked);
      const options = { dim: c.dim, features: c.features, causal, seed: n, chunkSize: c.chunkSize };
      const plain = new FavorAttention(options).forward(q, k, v, s, { keyMask });
      const zero = new FavorAttention({ ...options, window: 0 }).forward(q, k, v, s, { keyMask });
      assert.equal(new Uint32Array(zero.buffer), new Uint32Array(plain.buffer), JSON.stringify(c));
    });
  });
}

test('window: large logits (‖q̂‖, ‖k̂‖ large) stay finite and match the reference', () => {
  // q = k-ish rows of norm ~ 6·d^(1/4): the exact part's exponent passes c_q + c_K, the common rescale takes over
  const s: Shape = { batch: 1, heads: 1, queries: 40, keys: 40, dim: 8, valueDim: 4 };
  const k = randn(40 * 8, 5, 2);
  const q = k.map((x, i) => x + 0.1 * Math.sin(i));
  const v = randn(40 * 4, 6);
  for (const causal of [false, true]) {
    const attn = new FavorAttention({ dim: 8, features: 16, causal, window: 3, chunkSize: 16 });
    const out = attn.forward(q, k, v, s);
    assert.ok(allFinite(out));
    const ref = windowReference({ kernel: 'softmax', dim: 8, w: attn.projection }, q, k, v, s, { window: 3, causal });
    const err = relError(out, ref);
    assert.ok(err <= FIDELITY, `causal ${causal}: ${err}`);
  }
});

test('window: bad options are INVALID_OPTION before any work', () => {
  for (const window of [-1, 1.5, NaN, Infinity, '3', null, 2 ** 31]) {
    throwsCode(() => new FavorAttention({ dim: 4, window: window as never }), 'INVALID_OPTION');
  }
  for (const kernel of ['relu', 'elu1', 'exp', 'abs', 'gelu'] as const) {
    throwsCode(() => new FavorAttention({ dim: 4, kernel, window: 2 }), 'INVALID_OPTION');
    new FavorAttention({ dim: 4, kernel, window: 0 }); // 0 is plain FAVOR+: fine
  }
  const attn = new FavorAttention({ dim: 4, features: 8, window: 2 });
  const s = { queries: 3, dim: 4 };
  const x = randn(12, 1);
  assert.ok(allFinite(attn.forward(x, x, x, s))); // the instance still works
});
test.run();
