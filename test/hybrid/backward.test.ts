// Gradients of hybrid attention (src/hybrid/backward.ts), bidirectional and causal, against float64 central
// differences of the hybrid estimator's reference (test/reference/hybrid.ts), for the softmax kernels, on odd shapes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import { FavorAttention, type KernelName } from '../../src/index.ts';
import { attentionInputs } from '../support/data.ts';
import { windowReference } from '../reference/hybrid.ts';
import type { Shape } from '../reference/favor.ts';

// wasm float32 gradients against float64 differences (step 1e-5: truncation ~h², rounding ~1e-16/h, both ≪ 1e-7):
// as in test/favor/favor-backward.test.ts, each of dq, dk, dv is measured against the norm of the whole gradient
// (measured: at most 1.7e-7).
const FIDELITY = 1e-5;

interface Case { shape: Shape; features: number; window: number; chunkSize: number; masked?: boolean }

const CASES: Case[] = [
  { shape: { batch: 1, heads: 1, queries: 1, keys: 1, dim: 1, valueDim: 1 }, features: 3, window: 1, chunkSize: 64 },
  { shape: { batch: 1, heads: 1, queries: 9, keys: 14, dim: 3, valueDim: 2 }, features: 5, window: 2, chunkSize: 4 }, // chunk boundaries inside
  { shape: { batch: 1, heads: 1, queries: 14, keys: 9, dim: 4, valueDim: 5 }, features: 7, window: 3, chunkSize: 5 },
  { shape: { batch: 2, heads: 2, queries: 12, keys: 12, dim: 3, valueDim: 3 }, features: 6, window: 7, chunkSize: 4, masked: true }, // w > chunk
  { shape: { batch: 1, heads: 1, queries: 10, keys: 10, dim: 2, valueDim: 2 }, features: 5, window: 20, chunkSize: 4 }, // every key exact
  { shape: { batch: 1, heads: 1, queries: 6, keys: 15, dim: 3, valueDim: 2 }, features: 6, window: 2, chunkSize: 4 }, // causal: older keys first
];

function finiteDifferences(f: (x: Float64Array[]) => number, inputs: Float64Array[]): Float64Array[] {
  return inputs.map((x, which) => {
    const fd = new Float64Array(x.length);
    const h = 1e-5;
    for (let i = 0; i < x.length; i++) {
      const args = inputs.map((a) => a.slice());
      args[which][i] += h;
      const up = f(args);
      args[which][i] -= 2 * h;
      fd[i] = (up - f(args)) / (2 * h);
    }
    return fd;
  });
}

for (const causal of [false, true]) for (const kernel of ['softmax', 'softmax-hyperbolic', 'softmax-trig'] as KernelName[]) {
  test(`window backward ${causal ? 'causal' : 'bidirectional'} ${kernel}: against float64 central differences of the hybrid reference (≤ ${FIDELITY})`, () => {
    CASES.forEach((c, n) => {
      const s = c.shape;
      const { q, k, v, dOut } = attentionInputs(s, 40 + n, kernel === 'softmax-trig' ? 0.2 : 0.5);
      const keyMask = c.masked ? new Uint8Array(s.batch * s.keys).map((_, i) => (i % 4 === 1 ? 0 : 1)) : undefined;
      if (keyMask && s.batch > 1) keyMask.fill(0, 0, s.keys); // batch 0 sees nothing: zero gradients
      const attn = new FavorAttention({ dim: s.dim, features: c.features, kernel, causal, seed: n, window: c.window, chunkSize: c.chunkSize });
      const g = attn.backward(q, k, v, dOut, s, { keyMask });
      const cfg = { kernel, dim: s.dim, w: attn.projection };
      const loss = ([qq, kk, vv]: Float64Array[]) =>
        windowReference(cfg, qq, kk, vv, s, { window: c.window, causal, keyMask }).reduce((acc, x, i) => acc + x * dOut[i], 0);
      const [dq, dk, dv] = finiteDifferences(loss, [Float64Array.from(q), Float64Array.from(k), Float64Array.from(v)]);
      const norm = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((acc, x) => acc + x * x, 0));
      const scale = Math.hypot(norm(dq), norm(dk), norm(dv));
      const diff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((acc, x, i) => acc + (x - b[i]) ** 2, 0));
      for (const [name, got, want] of [['dq', g.dq, dq], ['dk', g.dk, dk], ['dv', g.dv, dv]] as const) {
        const err = diff(got, want) / scale;
        assert.ok(err <= FIDELITY, `${JSON.stringify(c)} ${name}: ${err.toExponential(2)}`);
      }
    });
  });
}

test.run();
