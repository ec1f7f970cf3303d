// FAVOR+ bidirectional: the wasm estimator against the float64 reference of the same estimator
// (same projection), for every kernel, on many shapes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import { FavorAttention, memoryBytes, type KernelName } from '../../src/index.ts';
import { KERNEL_NAMES } from '../../src/feature-maps/kernels.ts';
import { allFinite, randn, relError } from '../support/data.ts';
import { favorConditioning, favorReference, type Shape } from '../reference/favor.ts';

// Fidelity tolerance: float32 arithmetic with a float64 state. The errors that remain are float32
// rounding of the projection (d-term dots), of exp/sin/cos (≤ 2e-7 relative) and of the read-out dot
// products over M ≤ 2·1024 terms: a few 1e-7 relative, well inside 1e-5.
const FIDELITY = 1e-5;
// Kernels whose features can be negative (trig, gelu) can cancel in φ(q)ᵀz; rounding is then
// amplified by the conditioning κ (reference/favor.ts). They are compared on the rows with κ ≤ 4,
// which must be at least half of them; the other rows are only checked to be finite.
const KAPPA_MAX = 4;

interface Case {
  kernel: KernelName; batch?: number; heads?: number; queries: number; keys?: number; dim: number; valueDim?: number;
  features?: number; projection?: 'orthogonal' | 'iid' | 'none'; masked?: boolean; sigma?: number; chunkSize?: number;
}

function fullShape(c: Case): Shape {
  return { batch: c.batch ?? 1, heads: c.heads ?? 1, queries: c.queries, keys: c.keys ?? c.queries, dim: c.dim, valueDim: c.valueDim ?? c.dim };
}

function runCase(c: Case, seed: number): { err: number; finite: boolean } {
  const s = fullShape(c);
  const attn = new FavorAttention({ dim: c.dim, features: c.features, kernel: c.kernel, projection: c.projection, seed, chunkSize: c.chunkSize });
  const sigma = c.sigma ?? 0.5;
  const bh = s.batch * s.heads;
  const q = randn(bh * s.queries * s.dim, seed + 1, sigma);
  const k = randn(bh * s.keys * s.dim, seed + 2, sigma);
  const v = randn(bh * s.keys * s.valueDim, seed + 3);
  let keyMask: Uint8Array | undefined;
  if (c.masked) {
    keyMask = new Uint8Array(s.batch * s.keys).map((_, i) => (i * 7 + seed) % 3 === 0 ? 0 : 1);
    if (s.batch > 1) keyMask.fill(0, 0, s.keys); // batch 0 fully masked: zeros
  }
  const out = attn.forward(q, k, v, s, { keyMask });
  const cfg = { kernel: c.kernel, dim: c.dim, w: c.projection === 'none' ? null : attn.projection };
  const ref = favorReference(cfg, q, k, v, s, keyMask);
  const finite = allFinite(out);
  if (c.kernel !== 'softmax-trig' && c.kernel !== 'gelu') return { err: relError(out, ref), finite };
  const kappa = favorConditioning(cfg, q, k, s, keyMask);
  const rows = [...kappa.keys()].filter((i) => kappa[i] <= KAPPA_MAX);
  assert.ok(rows.length >= kappa.length / 2, `only ${rows.length} of ${kappa.length} rows are well conditioned`);
  const pick = (a: ArrayLike<number>) => rows.flatMap((i) => Array.from({ length: s.valueDim }, (_, t) => a[i * s.valueDim + t]));
  return { err: relError(pick(out), pick(ref)), finite };
}

const SHAPES: Omit<Case, 'kernel'>[] = [
  { queries: 1, dim: 1, features: 1 },
  { queries: 1, keys: 5, dim: 4, features: 8 },
  { queries: 7, keys: 3, dim: 3, features: 7 },          // m not a multiple of 4 nor of d
  { queries: 33, dim: 5, valueDim: 2, features: 13 },
  { queries: 65, keys: 130, dim: 16, valueDim: 9, features: 30 },
  { queries: 129, dim: 8, features: 64, chunkSize: 32 },  // chunk boundaries inside
  { queries: 200, keys: 77, dim: 32, valueDim: 64, features: 256, projection: 'iid' },
  { batch: 2, heads: 3, queries: 20, keys: 31, dim: 12, features: 20, masked: true },
  { batch: 3, heads: 1, queries: 9, keys: 64, dim: 6, features: 10, masked: true, chunkSize: 16 },
  { heads: 4, queries: 100, dim: 64, valueDim: 16, features: 128 },
  { queries: 300, keys: 257, dim: 7, features: 5, chunkSize: 64 },
];

for (const kernel of KERNEL_NAMES) {
  test(`fidelity: ${kernel} against float64, ${SHAPES.length} shapes`, () => {
    SHAPES.forEach((shape, i) => {
      const c: Case = { ...shape, kernel };
      // trig features estimate badly where the kernel is small: keep its inputs small so that the
      // denominators stay away from 0 and the comparison measures arithmetic, not the estimator
      if (kernel === 'softmax-trig') c.sigma = 0.2;
      const { err, finite } = runCase(c, 100 + i);
      assert.ok(finite, `non-finite output for ${JSON.stringify(c)}`);
      assert.ok(err <= FIDELITY, `${kernel} ${JSON.stringify(shape)}: relative error ${err.toExponential(2)}`);
    });
  });
}

test('fidelity: generalized kernels without projection', () => {
  for (const kernel of ['relu', 'elu1', 'exp', 'abs', 'gelu'] as const) {
    for (const [i, shape] of [{ queries: 17, dim: 5 }, { queries: 40, keys: 9, dim: 8, valueDim: 3, masked: true, batch: 2 }].entries()) {
      // gelu(x) ≈ x/2 near 0 takes both signs: larger inputs keep its denominators well conditioned
      const sigma = kernel === 'gelu' ? 1.5 : 0.5;
      const { err, finite } = runCase({ ...shape, kernel, projection: 'none', sigma }, 200 + i);
      assert.ok(finite);
      assert.ok(err <= FIDELITY, `${kernel} none ${JSON.stringify(shape)}: ${err.toExponential(2)}`);
    }
  }
});

test('fidelity: one head at L = 65536; the wasm memory does not grow with L', () => {
  const c: Case = { kernel: 'softmax', queries: 4096, dim: 32, features: 64 };
  runCase(c, 300);
  const before = memoryBytes();
  const { err, finite } = runCase({ ...c, queries: 65536 }, 301);
  assert.ok(finite);
  assert.ok(err <= FIDELITY, `L = 65536: ${err.toExponential(2)}`);
  assert.is(memoryBytes(), before, 'memoryBytes() after L = 65536 equals the size after L = 4096');
});

test.run();
