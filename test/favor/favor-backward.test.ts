// FAVOR+ gradients: the float64 reference gradients against finite differences, and the wasm backward
// passes against the float64 reference, for every kernel, bidirectional and causal.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import { FavorAttention, memoryBytes, type KernelName } from '../../src/index.ts';
import { KERNEL_NAMES } from '../../src/feature-maps/kernels.ts';
import { allFinite, attentionInputs, relError } from '../support/data.ts';
import { throwsCode } from '../support/expect.ts';
import { favorCausalQuadratic, favorReference, type Shape } from '../reference/favor.ts';
import { favorCausalGradLinear, favorGradQuadratic } from '../reference/favor-grad.ts';

// wasm against float64: float32 arithmetic through the forward quantities and three more GEMMs;
// measured errors are a few 1e-7, as for the forward pass. Each of dq, dk, dv is measured against the
// scale of the whole gradient ‖(dq, dk, dv)‖: a tensor that is tiny by cancellation (with d = 1 a
// homogeneous kernel's output depends on q only through ε) has no small relative error in float32.
const FIDELITY = 1e-5;

function gradientErrors(g: { dq: ArrayLike<number>; dk: ArrayLike<number>; dv: ArrayLike<number> },
                        r: { dq: ArrayLike<number>; dk: ArrayLike<number>; dv: ArrayLike<number> }): Record<'dq' | 'dk' | 'dv', number> {
  const norm = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((acc, x) => acc + x * x, 0));
  const scale = Math.hypot(norm(r.dq), norm(r.dk), norm(r.dv));
  const diff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((acc, x, i) => acc + (x - b[i]) ** 2, 0));
  return { dq: diff(g.dq, r.dq) / scale, dk: diff(g.dk, r.dk) / scale, dv: diff(g.dv, r.dv) / scale };
}
// central differences in float64 with step 1e-5: truncation ~h² and rounding ~1e-16/h, both ≪ 1e-6.
const FINITE_DIFFERENCE = 1e-6;

function sigmaFor(kernel: KernelName): number {
  return kernel === 'softmax-trig' ? 0.2 : kernel === 'gelu' ? 1.5 : 0.5;
}

const data = attentionInputs;

const mask = (s: Shape) => new Uint8Array(s.batch * s.keys).map((_, i) => (i % 4 === 1 ? 0 : 1));

test('reference gradients agree with central differences (every kernel, causal and not, masked, queries ≠ keys)', () => {
  const s: Shape = { batch: 2, heads: 1, queries: 6, keys: 5, dim: 3, valueDim: 2 };
  for (const kernel of KERNEL_NAMES) {
    for (const causal of [false, true]) {
      const { q, k, v, dOut } = data(s, 10, sigmaFor(kernel));
      const keyMask = mask(s);
      const w = new FavorAttention({ dim: 3, features: 5, kernel, seed: 2 }).projection;
      const cfg = { kernel, dim: 3, w };
      const g = favorGradQuadratic(cfg, q, k, v, dOut, s, causal, keyMask);
      const loss = (qq: Float64Array, kk: Float64Array, vv: Float64Array) => {
        const f = causal ? favorCausalQuadratic : favorReference;
        const out = f(cfg, qq as never, kk as never, vv as never, s, keyMask);
        return out.reduce((acc, x, i) => acc + x * dOut[i], 0);
      };
      const inputs = [Float64Array.from(q), Float64Array.from(k), Float64Array.from(v)];
      const grads = [g.dq, g.dk, g.dv];
      inputs.forEach((x, which) => {
        const fd = new Float64Array(x.length);
        for (let i = 0; i < x.length; i++) {
          const h = 1e-5;
          const args = inputs.map((a) => a.slice());
          args[which][i] += h;
          const up = loss(args[0], args[1], args[2]);
          args[which][i] -= 2 * h;
          fd[i] = (up - loss(args[0], args[1], args[2])) / (2 * h);
        }
        const err = relError(grads[which], fd);
        assert.ok(err <= FINITE_DIFFERENCE, `${kernel} causal=${causal} d${'qkv'[which]}: ${err.toExponential(2)}`);
      });
    }
  }
});

interface Case { shape: Shape; features: number; chunkSize: number; projection?: 'none'; masked?: boolean }

const CASES: Case[] = [
  { shape: { batch: 1, heads: 1, queries: 1, keys: 2, dim: 1, valueDim: 1 }, features: 3, chunkSize: 64 },
  { shape: { batch: 2, heads: 2, queries: 11, keys: 9, dim: 5, valueDim: 3 }, features: 7, chunkSize: 4, masked: true },
  { shape: { batch: 1, heads: 1, queries: 70, keys: 70, dim: 8, valueDim: 13 }, features: 19, chunkSize: 32 },
  { shape: { batch: 1, heads: 3, queries: 40, keys: 65, dim: 6, valueDim: 4 }, features: 10, chunkSize: 16, masked: true },
  { shape: { batch: 2, heads: 1, queries: 65, keys: 40, dim: 4, valueDim: 4 }, features: 9, chunkSize: 16 },
];

for (const kernel of KERNEL_NAMES) {
  test(`wasm backward ${kernel}: against the float64 gradients, bidirectional and causal`, () => {
    for (const causal of [false, true]) {
      CASES.forEach((c, n) => {
        const { q, k, v, dOut } = data(c.shape, 100 + n, sigmaFor(kernel));
        const keyMask = c.masked ? mask(c.shape) : undefined;
        // features of mixed sign (trig, gelu) can cancel in φ(q)ᵀz when m is tiny, and then rounding is
        // amplified by the conditioning (see test/favor/favor.test.ts); from m = 16 on they are well conditioned
        const features = kernel === 'gelu' || kernel === 'softmax-trig' ? Math.max(c.features, 16) : c.features;
        const attn = new FavorAttention({ dim: c.shape.dim, features, kernel, seed: n, causal, chunkSize: c.chunkSize });
        const g = attn.backward(q, k, v, dOut, c.shape, { keyMask });
        assert.ok(allFinite(g.dq) && allFinite(g.dk) && allFinite(g.dv));
        const r = favorGradQuadratic({ kernel, dim: c.shape.dim, w: attn.projection }, q, k, v, dOut, c.shape, causal, keyMask);
        const errors = gradientErrors(g, r);
        for (const key of ['dq', 'dk', 'dv'] as const) {
          assert.ok(errors[key] <= FIDELITY, `${kernel} causal=${causal} case ${n} ${key}: ${errors[key].toExponential(2)}`);
        }
      });
    }
  });
}

test('wasm backward: with a single key, out = v whatever q and k are, so dq = dk = 0', () => {
  const s: Shape = { batch: 1, heads: 2, queries: 3, keys: 1, dim: 4, valueDim: 2 };
  for (const kernel of KERNEL_NAMES) {
    const { q, k, v, dOut } = data(s, 200, sigmaFor(kernel));
    const g = new FavorAttention({ dim: 4, features: 16, kernel }).backward(q, k, v, dOut, s);
    const scale = Math.hypot(...g.dv);
    assert.ok(Math.hypot(...g.dq) <= 1e-5 * scale && Math.hypot(...g.dk) <= 1e-5 * scale, kernel);
  }
});

test('wasm backward: generalized kernels without projection', () => {
  const s: Shape = { batch: 1, heads: 2, queries: 20, keys: 17, dim: 6, valueDim: 3 };
  for (const kernel of ['relu', 'elu1', 'exp', 'abs', 'gelu'] as const) {
    for (const causal of [false, true]) {
      const { q, k, v, dOut } = data(s, 300, sigmaFor(kernel));
      const attn = new FavorAttention({ dim: 6, kernel, projection: 'none', causal, chunkSize: 8 });
      const g = attn.backward(q, k, v, dOut, s);
      const errors = gradientErrors(g, favorGradQuadratic({ kernel, dim: 6, w: null }, q, k, v, dOut, s, causal));
      for (const key of ['dq', 'dk', 'dv'] as const) assert.ok(errors[key] <= FIDELITY, `${kernel} ${key}: ${errors[key]}`);
    }
  }
});

test('wasm backward: causal at L = 65536 (d = 64, m = 256) against float64 ≤ 1e-4, memory reported', () => {
  const L = 65536;
  const [d, dv] = [64, 64];
  const s: Shape = { batch: 1, heads: 1, queries: L, keys: L, dim: d, valueDim: dv };
  const { q, k, v, dOut } = data(s, 400, 0.5);
  const attn = new FavorAttention({ dim: d, features: 256, causal: true, seed: 1 });
  const before = memoryBytes();
  const g = attn.backward(q, k, v, dOut, s);
  const after = memoryBytes();
  const r = favorCausalGradLinear(attn.projection, q, k, v, dOut, L, d, dv);
  const errs = (['dq', 'dk', 'dv'] as const).map((key) => relError(g[key], r[key]));
  console.log(`    causal backward L = ${L}: relative errors dq ${errs[0].toExponential(2)}, dk ${errs[1].toExponential(2)}, dv ${errs[2].toExponential(2)}; ` +
              `wasm memory ${(after / 2 ** 20).toFixed(1)} MiB (was ${(before / 2 ** 20).toFixed(1)}); JS side per-row dnum/dden/c: ${((L * (dv + 2) * 4) / 2 ** 20).toFixed(1)} MiB`);
  errs.forEach((err) => assert.ok(err <= 1e-4, err.toExponential(2)));
});

test('backward: bad input has its code and leaves the out buffers untouched', () => {
  const s: Shape = { batch: 1, heads: 1, queries: 4, keys: 4, dim: 2, valueDim: 2 };
  const { q, k, v, dOut } = data(s, 1, 0.5);
  const attn = new FavorAttention({ dim: 2, features: 4 });
  const out = { dq: new Float32Array(8).fill(7), dk: new Float32Array(8).fill(7), dv: new Float32Array(8).fill(7) };
  const nan = dOut.slice();
  nan[3] = NaN;
  throwsCode(() => attn.backward(q, k, v, dOut.subarray(1), s, { out }), 'INVALID_LENGTH');
  throwsCode(() => attn.backward(q, k, v, nan, s, { out }), 'NON_FINITE');
  throwsCode(() => attn.backward(q, k, v, dOut, s, { out: { ...out, dk: new Float32Array(3) } }), 'INVALID_LENGTH');
  throwsCode(() => attn.backward(q, k, v, dOut, s, { out: { dq: out.dq, dk: out.dk } as never }), 'INVALID_OPTION');
  throwsCode(() => attn.backward(q, k, v, dOut, s, { out, causal: true } as never), 'UNKNOWN_OPTION');
  throwsCode(() => attn.backward(q, k, v, dOut, s, { keyMask: new Uint8Array(3) }), 'INVALID_LENGTH');
  assert.ok([out.dq, out.dk, out.dv].every((a) => a.every((x) => x === 7)));
  const g = attn.backward(q, k, v, dOut, s, { out });
  assert.is(g.dq, out.dq);
  assert.ok(allFinite(g.dq) && !g.dq.every((x) => x === 7));
});

test.run();
