// Learned feature maps (docs/learned-feature-maps.md): the projection gradient dW of backward (float64
// reference against central differences; wasm against the reference), the normalized hyperbolic kernel's
// own properties, and the public features / featuresBackward.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import { FavorAttention, type KernelName } from '../../src/index.ts';
import { allFinite, attentionInputs, randn, relError } from '../support/data.ts';
import { throwsCode } from '../support/expect.ts';
import { favorCausalQuadratic, favorReference, featureVector, type Shape } from '../reference/favor.ts';
import { favorGradQuadratic, featureVJPWithU } from '../reference/favor-grad.ts';

// float32 kernels against float64: the same budget as the other backward passes (test/favor/favor-backward.test.ts)
const FIDELITY = 1e-5;
// central differences in float64, step 1e-5: truncation ~h², rounding ~1e-16/h
const FINITE_DIFFERENCE = 1e-6;
const LEARNED: KernelName[] = ['softmax', 'softmax-hyperbolic', 'softmax-hyperbolic-normalized'];
const mask = (s: Shape) => new Uint8Array(s.batch * s.keys).map((_, i) => (i % 4 === 1 ? 0 : 1));

test('reference dW agrees with central differences (learned kernels and relu; causal and not; masked; queries ≠ keys)', () => {
  const s: Shape = { batch: 2, heads: 2, queries: 5, keys: 6, dim: 3, valueDim: 2 };
  for (const kernel of [...LEARNED, 'relu'] as KernelName[]) {
    for (const causal of [false, true]) {
      const { q, k, v, dOut } = attentionInputs(s, 20, 0.6);
      const keyMask = mask(s);
      const w = Float64Array.from(new FavorAttention({ dim: 3, features: 5, kernel, seed: 9 }).projection);
      const loss = (ww: Float64Array) => {
        const cfg = { kernel, dim: 3, w: ww as never };
        const out = (causal ? favorCausalQuadratic : favorReference)(cfg, q, k, v, s, keyMask);
        return out.reduce((acc, x, i) => acc + x * dOut[i], 0);
      };
      const g = favorGradQuadratic({ kernel, dim: 3, w: w as never }, q, k, v, dOut, s, causal, keyMask);
      const fd = w.map((_, i) => {
        const h = 1e-5;
        const up = w.slice(); up[i] += h;
        const down = w.slice(); down[i] -= h;
        return (loss(up) - loss(down)) / (2 * h);
      });
      const err = relError(g.dW!, fd);
      assert.ok(err <= FINITE_DIFFERENCE, `${kernel} causal=${causal}: ${err.toExponential(2)}`);
    }
  }
});

interface Case { shape: Shape; features: number; chunkSize: number; masked?: boolean }

const CASES: Case[] = [
  { shape: { batch: 1, heads: 1, queries: 1, keys: 1, dim: 1, valueDim: 1 }, features: 3, chunkSize: 64 },
  { shape: { batch: 1, heads: 1, queries: 1, keys: 2, dim: 1, valueDim: 2 }, features: 5, chunkSize: 64 },
  { shape: { batch: 2, heads: 2, queries: 11, keys: 9, dim: 5, valueDim: 3 }, features: 7, chunkSize: 4, masked: true },
  { shape: { batch: 1, heads: 1, queries: 70, keys: 70, dim: 8, valueDim: 13 }, features: 19, chunkSize: 32 },
  { shape: { batch: 1, heads: 3, queries: 40, keys: 65, dim: 6, valueDim: 4 }, features: 10, chunkSize: 16, masked: true },
  { shape: { batch: 2, heads: 1, queries: 65, keys: 40, dim: 4, valueDim: 4 }, features: 9, chunkSize: 16 },
];

for (const kernel of [...LEARNED, 'softmax-trig', 'gelu'] as KernelName[]) {
  test(`backward dW ${kernel}: against the float64 reference, bidirectional and causal, ${CASES.length} shapes`, () => {
    for (const causal of [false, true]) {
      CASES.forEach((c, n) => {
        const sigma = kernel === 'softmax-trig' ? 0.2 : kernel === 'gelu' ? 1.5 : 0.5;
        const { q, k, v, dOut } = attentionInputs(c.shape, 50 + n, sigma);
        const keyMask = c.masked ? mask(c.shape) : undefined;
        const features = kernel === 'gelu' || kernel === 'softmax-trig' ? Math.max(c.features, 16) : c.features;
        const attn = new FavorAttention({ dim: c.shape.dim, features, kernel, seed: n, causal, chunkSize: c.chunkSize });
        const g = attn.backward(q, k, v, dOut, c.shape, { keyMask, projectionGradient: true });
        const r = favorGradQuadratic({ kernel, dim: c.shape.dim, w: attn.projection }, q, k, v, dOut, c.shape, causal, keyMask);
        assert.ok(g.dW && g.dW.length === attn.projection.length && allFinite(g.dW));
        // measured against the scale of the whole gradient (dq, dk, dv, dW), as in test/favor/favor-backward.test.ts:
        // with one key the output is v whatever W is, and dW is zero up to rounding
        const norm = (a: ArrayLike<number>) => Math.hypot(...Array.from(a));
        const err = norm(g.dW.map((x, i) => x - r.dW![i])) / Math.hypot(norm(r.dq), norm(r.dk), norm(r.dv), norm(r.dW!));
        assert.ok(err <= FIDELITY, `${kernel} causal=${causal} case ${n}: ${err.toExponential(2)}`);
        // dq, dk, dv are the same bits with or without dW
        const plain = attn.backward(q, k, v, dOut, c.shape, { keyMask });
        for (const key of ['dq', 'dk', 'dv'] as const) assert.ok(plain[key].every((x, i) => Object.is(x, g[key][i])), key);
      });
    }
  });
}

test('backward dW: out.dW is filled and returned; bad requests have their codes', () => {
  const s: Shape = { batch: 1, heads: 1, queries: 4, keys: 4, dim: 2, valueDim: 2 };
  const { q, k, v, dOut } = attentionInputs(s, 1, 0.5);
  const attn = new FavorAttention({ dim: 2, features: 6, kernel: 'softmax-hyperbolic-normalized' });
  const out = { dq: new Float32Array(8), dk: new Float32Array(8), dv: new Float32Array(8), dW: new Float32Array(12).fill(7) };
  throwsCode(() => attn.backward(q, k, v, dOut, s, { out }), 'INVALID_OPTION'); // dW without projectionGradient
  throwsCode(() => attn.backward(q, k, v, dOut, s, { out: { ...out, dW: new Float32Array(11) }, projectionGradient: true }), 'INVALID_LENGTH');
  throwsCode(() => attn.backward(q, k, v, dOut, s, { projectionGradient: 1 as never }), 'INVALID_OPTION');
  const none = new FavorAttention({ dim: 2, kernel: 'relu', projection: 'none' });
  throwsCode(() => none.backward(q, k, v, dOut, s, { projectionGradient: true }), 'INVALID_OPTION');
  assert.ok(out.dW.every((x) => x === 7));
  const g = attn.backward(q, k, v, dOut, s, { out, projectionGradient: true });
  assert.is(g.dW, out.dW);
  assert.ok(allFinite(g.dW!) && !g.dW!.every((x) => x === 7));
});

test('normalized kernel: each half of φ sums to a = 1/√(2m), log-scale 0, finite on large inputs', () => {
  for (const [dim, m, sigma] of [[1, 3, 1], [5, 7, 1], [16, 33, 8], [64, 64, 40]]) {
    const attn = new FavorAttention({ dim, features: m, kernel: 'softmax-hyperbolic-normalized', seed: 2 });
    const rows = 9;
    const x = randn(rows * dim, dim, sigma);
    const { phi, logScale } = attn.features(x, rows);
    const a = 1 / Math.sqrt(2 * m);
    const w = attn.projection;
    for (let i = 0; i < rows; i++) {
      assert.is(logScale[i], 0);
      // u = W·x̂ is float32: each exponent u_r − L± carries a rounding of about 2^-24·|u_r| (a few ulps with the shift)
      let uMax = 0;
      for (let r = 0; r < m; r++) {
        let u = 0;
        for (let t = 0; t < dim; t++) u += w[r * dim + t] * x[i * dim + t] * dim ** -0.25;
        uMax = Math.max(uMax, Math.abs(u));
      }
      const tolerance = 1e-6 + 8 * 2 ** -24 * uMax;
      for (const half of [0, 1]) {
        let sum = 0;
        for (let r = 0; r < m; r++) sum += phi[i * 2 * m + half * m + r];
        assert.ok(Math.abs(sum / a - 1) <= tolerance, `dim ${dim} m ${m} row ${i}: Σ = ${sum / a}·a, max|u| ${uMax.toFixed(1)}`);
      }
    }
    // against float64 where the exponents stay moderate; large σ: finite and normalized (above)
    if (sigma <= 1) {
      const ref = Array.from({ length: rows }, (_, i) => Array.from(featureVector({ kernel: 'softmax-hyperbolic-normalized', dim, w: attn.projection }, x.subarray(i * dim, (i + 1) * dim)))).flat();
      assert.ok(relError(phi, ref) <= FIDELITY);
    }
    const s = { batch: 1, heads: 1, queries: rows, keys: rows, dim, valueDim: 2 };
    const out = attn.forward(x, x, randn(rows * 2, 3), s);
    assert.ok(allFinite(out));
  }
});

test('features / featuresBackward: against float64 φ and its vector–Jacobian product (dx, dW)', () => {
  for (const kernel of [...LEARNED, 'softmax-trig', 'elu1'] as KernelName[]) {
    for (const [dim, m, rows] of [[1, 3, 1], [6, 10, 7], [8, 19, 40]]) {
      const attn = new FavorAttention({ dim, features: m, kernel, seed: 5 });
      const cfg = { kernel, dim, w: attn.projection };
      const x = randn(rows * dim, rows + dim, 0.5);
      const { phi, logScale } = attn.features(x, rows);
      const M = attn.featureCount;
      const dPhi = randn(rows * M, 7);
      const ref = Array.from({ length: rows }, (_, i) => featureVector(cfg, x.subarray(i * dim, (i + 1) * dim)));
      const trueRows = Array.from({ length: rows }, (_, i) => Array.from(phi.subarray(i * M, (i + 1) * M), (p) => p * Math.exp(logScale[i])));
      assert.ok(relError(trueRows.flat(), ref.flatMap((r) => Array.from(r))) <= FIDELITY, `${kernel} φ`);
      // dPhi is ∂loss/∂(stabilized phi): the true-feature gradient is dPhi·exp(−logScale)
      const g = attn.featuresBackward(x, rows, dPhi);
      const dx = new Float64Array(rows * dim);
      const dW = new Float64Array(m * dim);
      const s = dim ** -0.25;
      for (let i = 0; i < rows; i++) {
        const row = x.subarray(i * dim, (i + 1) * dim);
        const dTrue = Array.from(dPhi.subarray(i * M, (i + 1) * M), (p) => p * Math.exp(-logScale[i]));
        const r = featureVJPWithU(cfg, row, dTrue);
        dx.set(r.dx, i * dim);
        for (let j = 0; j < m; j++) for (let t = 0; t < dim; t++) dW[j * dim + t] += r.du[j] * row[t] * (kernel.startsWith('softmax') ? s : 1);
      }
      assert.ok(relError(g.dx, dx) <= FIDELITY, `${kernel} dx ${dim}/${m}/${rows}: ${relError(g.dx, dx).toExponential(2)}`);
      assert.ok(relError(g.dW!, dW) <= FIDELITY, `${kernel} dW ${dim}/${m}/${rows}: ${relError(g.dW!, dW).toExponential(2)}`);
    }
  }
  const none = new FavorAttention({ dim: 3, kernel: 'relu', projection: 'none' });
  assert.is(none.featuresBackward(randn(6, 1), 2, randn(6, 2)).dW, undefined);
});

test('features / featuresBackward: bad input has its code', () => {
  const attn = new FavorAttention({ dim: 4, features: 5, kernel: 'softmax-hyperbolic-normalized' });
  const x = randn(8, 1);
  throwsCode(() => attn.features(x, 3), 'INVALID_LENGTH');
  throwsCode(() => attn.features(x, 0), 'INVALID_SIZE');
  throwsCode(() => attn.features(Array.from(x) as never, 2), 'INVALID_TYPE');
  const bad = x.slice(); bad[1] = NaN;
  throwsCode(() => attn.features(bad, 2), 'NON_FINITE');
  throwsCode(() => attn.featuresBackward(x, 2, new Float32Array(19)), 'INVALID_LENGTH');
  assert.ok(allFinite(attn.featuresBackward(x, 2, new Float32Array(20)).dx));
});

test('withProjection: the same configuration with an explicit matrix', () => {
  const attn = new FavorAttention({ dim: 4, features: 6, kernel: 'softmax-hyperbolic-normalized', causal: true, seed: 3 });
  const copy = attn.withProjection(attn.projection);
  assert.is(copy.kernel, attn.kernel);
  assert.is(copy.causal, true);
  const s = { batch: 1, heads: 1, queries: 9, keys: 9, dim: 4, valueDim: 4 };
  const [q, k, v] = [randn(36, 1), randn(36, 2), randn(36, 3)];
  assert.ok(copy.forward(q, k, v, s).every((x, i) => Object.is(x, attn.forward(q, k, v, s)[i])));
  throwsCode(() => attn.withProjection(new Float32Array(7)), 'INVALID_LENGTH');
  // hybrid options come along: window, key centring and β (bit-identical outputs)
  const hybrid = new FavorAttention({ dim: 4, features: 6, kernel: 'softmax-hyperbolic-normalized', seed: 3, window: 2, centerKeys: true, estimateLogScale: 0.5 });
  const hybridCopy = hybrid.withProjection(hybrid.projection);
  assert.equal([hybridCopy.window, hybridCopy.estimateLogScale], [2, 0.5]);
  const want = hybrid.forward(q, k, v, s);
  assert.ok(hybridCopy.forward(q, k, v, s).every((x, i) => Object.is(x, want[i])));
});

test('normalized kernel in the decoder: prefill, steps and a saved state continue the parallel causal forward', () => {
  const [heads, L, d, dv, n] = [2, 70, 5, 3, 33];
  const attn = new FavorAttention({ dim: d, features: 11, kernel: 'softmax-hyperbolic-normalized', causal: true, seed: 8, chunkSize: 16 });
  const [q, k, v] = [randn(heads * L * d, 1, 1.5), randn(heads * L * d, 2, 1.5), randn(heads * L * dv, 3)];
  const full = attn.forward(q, k, v, { heads, queries: L, dim: d, valueDim: dv });
  // rows [from, to) of every head, as [heads, to − from, ·]
  const rows = (x: Float32Array, w: number, from: number, to: number) => {
    const out = new Float32Array(heads * (to - from) * w);
    for (let h = 0; h < heads; h++) out.set(x.subarray((h * L + from) * w, (h * L + to) * w), h * (to - from) * w);
    return out;
  };
  const dec = attn.decoder({ heads, valueDim: dv });
  const pre = dec.prefill(rows(q, d, 0, n), rows(k, d, 0, n), rows(v, dv, 0, n), n);
  assert.ok(relError(pre, rows(full, dv, 0, n)) <= FIDELITY);
  const resumed = attn.decoderFromState(dec.saveState());
  for (let t = n; t < L; t++) {
    const out = resumed.step(rows(q, d, t, t + 1), rows(k, d, t, t + 1), rows(v, dv, t, t + 1));
    assert.ok(relError(out, rows(full, dv, t, t + 1)) <= FIDELITY, `token ${t}`);
  }
});

test.run();
