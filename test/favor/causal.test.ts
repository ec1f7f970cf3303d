// Causal FAVOR+: against float64 references of the same estimator (linear and quadratic forms), and
// prefix consistency (the output at i depends on no token after i).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import { FavorAttention, type KernelName } from '../../src/index.ts';
import { KERNEL_NAMES } from '../../src/feature-maps/kernels.ts';
import { allFinite, randn, relError } from '../support/data.ts';
import { favorCausalQuadratic, favorCausalReference, type Shape } from '../reference/favor.ts';

// Same tolerance and reasoning as the bidirectional fidelity test (test/favor/favor.test.ts).
const FIDELITY = 1e-5;
// Prefix consistency: the same rows through the same arithmetic, but the last chunk of a prefix can
// be shorter, which changes the GEMM edge paths (summation order) of its rows: rounding only.
const PREFIX = 1e-6;

function inputs(s: Shape, seed: number, sigma: number) {
  const bh = s.batch * s.heads;
  return {
    q: randn(bh * s.queries * s.dim, seed + 1, sigma),
    k: randn(bh * s.keys * s.dim, seed + 2, sigma),
    v: randn(bh * s.keys * s.valueDim, seed + 3),
  };
}

function shape(queries: number, dim: number, extra: Partial<Shape> = {}): Shape {
  return { batch: 1, heads: 1, queries, keys: queries, dim, valueDim: dim, ...extra };
}

function sigmaFor(kernel: KernelName): number {
  return kernel === 'softmax-trig' ? 0.2 : kernel === 'gelu' ? 1.5 : 0.5;
}

for (const kernel of KERNEL_NAMES) {
  test(`causal ${kernel}: against the float64 linear-form reference, chunk boundaries at odd places`, () => {
    const cases: [Shape, number][] = [
      [shape(1, 8), 64],
      [shape(63, 8), 64],
      [shape(64, 8), 64],
      [shape(65, 8, { valueDim: 3 }), 64],
      [shape(1000, 16, { valueDim: 5 }), 64],
      [shape(100, 6, { batch: 2, heads: 2 }), 32],
      [shape(50, 4, { keys: 70 }), 16],  // a prefix of 20 keys every query sees
      [shape(70, 4, { keys: 50 }), 16],  // the first 20 queries see no key: zeros
    ];
    cases.forEach(([s, chunkSize], i) => {
      const attn = new FavorAttention({ dim: s.dim, features: 37, kernel, seed: 40 + i, causal: true, chunkSize });
      const { q, k, v } = inputs(s, 500 + i, sigmaFor(kernel));
      const out = attn.forward(q, k, v, s);
      assert.ok(allFinite(out));
      const ref = favorCausalReference({ kernel, dim: s.dim, w: attn.projection }, q, k, v, s);
      const err = relError(out, ref);
      assert.ok(err <= FIDELITY, `${kernel} ${JSON.stringify(s)} chunk ${chunkSize}: ${err.toExponential(2)}`);
    });
  });
}

test('causal: the explicit masked matrix tril(φ(Q)φ(K)ᵀ) in float64, with a key mask', () => {
  for (const kernel of ['softmax', 'softmax-hyperbolic', 'relu'] as const) {
    const s = shape(40, 6, { batch: 2, heads: 2, valueDim: 4 });
    const keyMask = new Uint8Array(2 * 40).map((_, i) => (i % 5 === 2 ? 0 : 1));
    keyMask[0] = 0; // the first query of batch 0 sees no key
    const attn = new FavorAttention({ dim: 6, features: 24, kernel, seed: 9, causal: true, chunkSize: 16 });
    const { q, k, v } = inputs(s, 700, 0.5);
    const out = attn.forward(q, k, v, s, { keyMask });
    const ref = favorCausalQuadratic({ kernel, dim: 6, w: attn.projection }, q, k, v, s, keyMask);
    assert.ok(relError(out, ref) <= FIDELITY, `${kernel}: ${relError(out, ref).toExponential(2)}`);
    for (let t = 0; t < 4; t++) assert.is(out[t], 0, 'a query that sees no key gets zeros');
  }
});

test('causal: prefix consistency, also when a later key has a far larger norm', () => {
  const n = 300;
  const s = shape(n, 16);
  for (const kernel of ['softmax', 'softmax-hyperbolic', 'softmax-trig', 'exp'] as const) {
    const attn = new FavorAttention({ dim: 16, features: 64, kernel, seed: 3, causal: true, chunkSize: 64 });
    const { q, k, v } = inputs(s, 800, kernel === 'softmax-trig' ? 0.2 : 0.5);
    // a key with a 40× larger norm late in the sequence (and one inside a chunk) pushes the stabilizer up
    for (const j of [250, 130]) for (let t = 0; t < 16; t++) k[j * 16 + t] *= 40;
    const full = attn.forward(q, k, v, s);
    for (const i of [0, 63, 64, 100, 129, 130, 131, 249, 251]) {
      const p = shape(i + 1, 16);
      const prefix = attn.forward(q.subarray(0, (i + 1) * 16), k.subarray(0, (i + 1) * 16), v.subarray(0, (i + 1) * 16), p);
      const err = relError(prefix, full.subarray(0, (i + 1) * 16));
      assert.ok(err <= PREFIX, `${kernel}: outputs 0..${i} of the prefix differ by ${err.toExponential(2)}`);
    }
  }
});

// The chunk works on 16-row panels (the block-lower product and A·V): chunk sizes and value widths that are not
// multiples of 16 take the edge paths.
test('causal: panel edges, chunk sizes not a multiple of 16, keys with large norms (stabilizer growth inside chunks)', () => {
  for (const kernel of ['softmax', 'softmax-hyperbolic', 'softmax-trig', 'exp', 'relu'] as const) {
    for (const [n, chunkSize, valueDim] of [[200, 37, 20], [130, 64, 17], [90, 20, 1], [33, 128, 16]] as const) {
      const s = shape(n, 8, { valueDim, batch: 1, heads: 2 });
      const attn = new FavorAttention({ dim: 8, features: 21, kernel, seed: 11, causal: true, chunkSize });
      const { q, k, v } = inputs(s, 900 + n, sigmaFor(kernel));
      // keys with a 6× larger norm, inside chunks and on their first and last rows: the stabilizer grows mid-chunk
      for (const j of [5, 36, 37, 64, 100, 150]) if (j < n) for (let t = 0; t < 8; t++) k[j * 8 + t] *= kernel === 'softmax-trig' ? 2 : 6;
      const out = attn.forward(q, k, v, s);
      assert.ok(allFinite(out));
      const ref = favorCausalReference({ kernel, dim: 8, w: attn.projection }, q, k, v, s);
      const err = relError(out, ref);
      assert.ok(err <= FIDELITY, `${kernel} n ${n} chunk ${chunkSize} dv ${valueDim}: ${err.toExponential(2)}`);
    }
  }
});

test('causal: every key of the first chunks masked (the state starts later), against the float64 quadratic form', () => {
  const s = shape(100, 6, { batch: 2, valueDim: 5 });
  const keyMask = new Uint8Array(2 * 100).fill(1);
  keyMask.fill(0, 0, 40); // batch 0: keys 0..39 (two and a half chunks of 16) masked
  keyMask.fill(0, 150, 170); // batch 1: a masked run in the middle
  for (const kernel of ['softmax', 'relu'] as const) {
    const attn = new FavorAttention({ dim: 6, features: 24, kernel, seed: 2, causal: true, chunkSize: 16 });
    const { q, k, v } = inputs(s, 950, 0.5);
    const out = attn.forward(q, k, v, s, { keyMask });
    assert.ok(out.subarray(0, 40 * 5).every((x) => x === 0), 'queries that see no key get zeros');
    const ref = favorCausalQuadratic({ kernel, dim: 6, w: attn.projection }, q, k, v, s, keyMask);
    assert.ok(relError(out, ref) <= FIDELITY, `${kernel}: ${relError(out, ref).toExponential(2)}`);
  }
});

test('causal: prefix consistency bit for bit at chunk and panel boundaries, also when the stabilizer grows', () => {
  const n = 150;
  for (const [kernel, chunkSize, valueDim] of [['softmax', 64, 20], ['softmax-hyperbolic', 20, 5], ['relu', 64, 16], ['exp', 37, 3]] as const) {
    const s = shape(n, 8, { valueDim });
    const attn = new FavorAttention({ dim: 8, features: 30, kernel, seed: 4, causal: true, chunkSize });
    const { q, k, v } = inputs(s, 990, 0.5);
    for (let t = 0; t < 8; t++) k[70 * 8 + t] *= 10;
    const full = attn.forward(q, k, v, s);
    for (const i of [0, 1, 14, 15, 16, 17, 19, 20, 31, 36, 37, 63, 64, 65, 69, 70, 71, 127, 148]) {
      const prefix = attn.forward(q.subarray(0, (i + 1) * 8), k.subarray(0, (i + 1) * 8), v.subarray(0, (i + 1) * valueDim), shape(i + 1, 8, { valueDim }));
      const differ = prefix.findIndex((x, t) => x !== full[t]);
      assert.is(differ, -1, `${kernel} chunk ${chunkSize}: output ${differ} of the ${i + 1}-row prefix differs`);
    }
  }
});

test.run();
