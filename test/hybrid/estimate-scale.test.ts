// estimateLogScale β of hybrid attention (docs/hybrid-attention.md): the FAVOR+ part weighs e^β against the exact
// window. Against the float64 hybrid reference with β (test/reference/hybrid.ts) on odd shapes, every pass (forward
// bidirectional and causal, decoder step and prefill, saved states, threads, backward, the tfjs op); β = 0 is today's
// result bit for bit; bad values.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import '../../src/threads/index.ts'; // the thread pool is opt-in
import * as tf from '@tensorflow/tfjs';
import { FavorAttention, init, initSync, type KernelName } from '../../src/index.ts';
import { favorAttention } from '../../src/tfjs.ts';
import { threading } from '../../src/favor/attention.ts';
import { allFinite, attentionInputs, randn, relError } from '../support/data.ts';
import { throwsCode } from '../support/expect.ts';
import { windowReference } from '../reference/hybrid.ts';
import type { Shape } from '../reference/favor.ts';

tf.enableProdMode();
await tf.setBackend('cpu');

// as test/hybrid/hybrid.test.ts: float32 features, logits and sums against float64
const FIDELITY = 1e-5;
const bits = (x: Float32Array) => new Uint32Array(x.buffer, x.byteOffset, x.length);

interface Case { shape: Shape; features: number; window: number; chunkSize?: number; masked?: boolean }

// odd sizes: L = 1, d = 1, m not a multiple of 4 nor of d, Lq ≠ Lk both ways, dv ≠ d, masks, a window longer than a chunk
const CASES: Case[] = [
  { shape: { batch: 1, heads: 1, queries: 1, keys: 1, dim: 1, valueDim: 1 }, features: 1, window: 1 },
  { shape: { batch: 1, heads: 1, queries: 1, keys: 9, dim: 4, valueDim: 4 }, features: 7, window: 2 },
  { shape: { batch: 1, heads: 1, queries: 33, keys: 33, dim: 5, valueDim: 2 }, features: 13, window: 3, chunkSize: 16 },
  { shape: { batch: 1, heads: 1, queries: 65, keys: 130, dim: 16, valueDim: 9 }, features: 30, window: 5, chunkSize: 32 },
  { shape: { batch: 1, heads: 1, queries: 130, keys: 65, dim: 16, valueDim: 9 }, features: 30, window: 5, chunkSize: 32 },
  { shape: { batch: 1, heads: 1, queries: 100, keys: 100, dim: 8, valueDim: 8 }, features: 21, window: 40, chunkSize: 16 },
  { shape: { batch: 2, heads: 2, queries: 70, keys: 70, dim: 6, valueDim: 11 }, features: 10, window: 7, chunkSize: 13, masked: true },
];

function maskOf(c: Case): Uint8Array | undefined {
  const s = c.shape;
  if (!c.masked) return undefined;
  const keyMask = new Uint8Array(s.batch * s.keys).map((_, i) => (i % 3 === 1 ? 0 : 1));
  if (s.batch > 1) keyMask.fill(0, 0, s.keys); // batch 0 fully masked: zeros
  return keyMask;
}

const KERNELS: KernelName[] = ['softmax', 'softmax-hyperbolic', 'softmax-hyperbolic-normalized'];

for (const causal of [false, true]) for (const kernel of KERNELS) {
  test(`estimateLogScale ${causal ? 'causal' : 'bidirectional'} ${kernel}: against the float64 hybrid reference with β (≤ ${FIDELITY})`, () => {
    let worst = 0;
    CASES.forEach((c, n) => {
      const s = c.shape;
      const { q, k, v } = attentionInputs(s, 500 + n);
      const keyMask = maskOf(c);
      for (const beta of [-2.5, 0.75, 4]) {
        const attn = new FavorAttention({ dim: s.dim, features: c.features, kernel, causal, seed: n, window: c.window, chunkSize: c.chunkSize, estimateLogScale: beta });
        const out = attn.forward(q, k, v, s, { keyMask });
        const ref = windowReference({ kernel, dim: s.dim, w: attn.projection }, q, k, v, s, { window: c.window, causal, keyMask, estimateLogScale: beta });
        assert.ok(allFinite(out));
        const err = relError(out, ref);
        assert.ok(err <= FIDELITY, `β ${beta} ${JSON.stringify(c)}: ${err}`);
        worst = Math.max(worst, err);
      }
    });
    console.log(`    worst relative error ${worst.toExponential(2)} (${CASES.length} shapes × 3 values of β)`);
  });
}

test('estimateLogScale 0 is the result without it, bit for bit (forward, backward, decoder); β changes the result', () => {
  for (const causal of [false, true]) {
    CASES.forEach((c, n) => {
      const s = c.shape;
      const { q, k, v, dOut } = attentionInputs(s, 600 + n);
      const keyMask = maskOf(c);
      const base = { dim: s.dim, features: c.features, causal, seed: n, window: c.window, chunkSize: c.chunkSize };
      const plain = new FavorAttention(base);
      const zero = new FavorAttention({ ...base, estimateLogScale: 0 });
      assert.equal(bits(zero.forward(q, k, v, s, { keyMask })), bits(plain.forward(q, k, v, s, { keyMask })));
      const g0 = zero.backward(q, k, v, dOut, s, { keyMask });
      const g1 = plain.backward(q, k, v, dOut, s, { keyMask });
      assert.equal([bits(g0.dq), bits(g0.dk), bits(g0.dv)], [bits(g1.dq), bits(g1.dk), bits(g1.dv)]);
    });
  }
  const s = CASES[3].shape;
  const { q, k, v } = attentionInputs(s, 7);
  const a = new FavorAttention({ dim: s.dim, features: 30, window: 5 }).forward(q, k, v, s);
  const b = new FavorAttention({ dim: s.dim, features: 30, window: 5, estimateLogScale: 1 }).forward(q, k, v, s);
  assert.ok(relError(a, b) > 1e-3);
  // without a window β cancels in the normalizer: plain FAVOR+, bit for bit
  const p0 = new FavorAttention({ dim: s.dim, features: 30 }).forward(q, k, v, s);
  const p1 = new FavorAttention({ dim: s.dim, features: 30, estimateLogScale: 3 }).forward(q, k, v, s);
  assert.equal(bits(p1), bits(p0));
});

// decoder: step and prefill against the parallel causal forward with β (the same estimator in other arithmetic)
const [batch, heads, dim, valueDim, L] = [2, 3, 8, 5, 90];
const count = batch * heads;
const dShape = { batch, heads, queries: L, dim, valueDim };
const dq = randn(count * L * dim, 11, 0.5), dk = randn(count * L * dim, 12, 0.5), dvv = randn(count * L * valueDim, 13);

function rows(x: Float32Array, width: number, from: number, to: number): Float32Array {
  const out = new Float32Array(count * (to - from) * width);
  for (let r = 0; r < count; r++) out.set(x.subarray((r * L + from) * width, (r * L + to) * width), r * (to - from) * width);
  return out;
}

for (const kernel of ['softmax', 'softmax-hyperbolic-normalized'] as KernelName[]) {
  test(`estimateLogScale decoder ${kernel}: step and prefill equal the parallel causal pass (≤ ${FIDELITY}); save → load → continue is bit-identical`, () => {
    const attn = new FavorAttention({ dim, features: 19, kernel, seed: 5, causal: true, chunkSize: 32, window: 6, estimateLogScale: -1.75 });
    const full = attn.forward(dq, dk, dvv, dShape);
    const dec = attn.decoder({ batch, heads, valueDim });
    const got = new Float32Array(count * L * valueDim);
    const put = (out: Float32Array, from: number, to: number) => {
      for (let r = 0; r < count; r++) got.set(out.subarray(r * (to - from) * valueDim, (r + 1) * (to - from) * valueDim), (r * L + from) * valueDim);
    };
    put(dec.prefill(rows(dq, dim, 0, 20), rows(dk, dim, 0, 20), rows(dvv, valueDim, 0, 20), 20), 0, 20);
    for (let t = 20; t < 30; t++) put(dec.step(rows(dq, dim, t, t + 1), rows(dk, dim, t, t + 1), rows(dvv, valueDim, t, t + 1)), t, t + 1);
    const saved = dec.saveState();
    const tail = (d: ReturnType<typeof attn.decoder>) => {
      const a = d.prefill(rows(dq, dim, 30, 60), rows(dk, dim, 30, 60), rows(dvv, valueDim, 30, 60), 30);
      const b = d.step(rows(dq, dim, 60, 61), rows(dk, dim, 60, 61), rows(dvv, valueDim, 60, 61));
      return [a, b];
    };
    const [a1, b1] = tail(dec);
    const [a2, b2] = tail(attn.decoderFromState(saved));
    assert.equal([bits(a2), bits(b2)], [bits(a1), bits(b1)]);
    put(a1, 30, 60);
    put(b1, 60, 61);
    const used = (x: Float32Array) => Float32Array.from({ length: count * 61 * valueDim }, (_, i) => {
      const r = Math.floor(i / (61 * valueDim));
      return x[r * L * valueDim + (i % (61 * valueDim))];
    });
    const err = relError(used(got), used(full));
    console.log(`    decoder against the parallel pass: ${err.toExponential(2)}`);
    assert.ok(err <= FIDELITY, `${err}`);
    // the state records β: another β (or none) refuses it
    throwsCode(() => new FavorAttention({ dim, features: 19, kernel, seed: 5, causal: true, chunkSize: 32, window: 6 }).decoderFromState(saved), 'INVALID_STATE');
    throwsCode(() => new FavorAttention({ dim, features: 19, kernel, seed: 5, causal: true, chunkSize: 32, window: 6, estimateLogScale: 1 }).decoderFromState(saved), 'INVALID_STATE');
  });
}

test('estimateLogScale decoder: β = 0 saves the bytes it saved before (no flag, 56-byte header)', () => {
  const plain = new FavorAttention({ dim, features: 9, seed: 5, causal: true, window: 3 });
  const zero = new FavorAttention({ dim, features: 9, seed: 5, causal: true, window: 3, estimateLogScale: 0 });
  const run = (a: FavorAttention) => {
    const d = a.decoder({ batch, heads, valueDim });
    d.prefill(rows(dq, dim, 0, 10), rows(dk, dim, 0, 10), rows(dvv, valueDim, 0, 10), 10);
    return d.saveState();
  };
  const [x, y] = [run(plain), run(zero)];
  assert.equal(Array.from(y), Array.from(x));
  assert.is(x[7] & 4, 0);
  // a state saved with β ≠ 0 is 8 bytes longer (β in the header)
  const scaled = run(new FavorAttention({ dim, features: 9, seed: 5, causal: true, window: 3, estimateLogScale: 0.5 }));
  assert.is(scaled.length, x.length + 8);
  assert.is(scaled[7] & 4, 4);
});

test('estimateLogScale backward: against float64 central differences of the hybrid reference with β (≤ 1e-5 of the norm)', () => {
  const cases: Case[] = [
    { shape: { batch: 1, heads: 1, queries: 9, keys: 14, dim: 3, valueDim: 2 }, features: 5, window: 2, chunkSize: 4 },
    { shape: { batch: 1, heads: 1, queries: 14, keys: 9, dim: 4, valueDim: 5 }, features: 7, window: 3, chunkSize: 5 },
    { shape: { batch: 2, heads: 1, queries: 12, keys: 12, dim: 3, valueDim: 3 }, features: 6, window: 7, chunkSize: 4, masked: true },
  ];
  let worst = 0;
  for (const causal of [false, true]) for (const kernel of ['softmax', 'softmax-hyperbolic-normalized'] as KernelName[]) {
    cases.forEach((c, n) => {
      const s = c.shape;
      const { q, k, v, dOut } = attentionInputs(s, 700 + n);
      const keyMask = maskOf(c);
      const beta = n % 2 ? -1.5 : 2;
      const attn = new FavorAttention({ dim: s.dim, features: c.features, kernel, causal, seed: n, window: c.window, chunkSize: c.chunkSize, estimateLogScale: beta });
      const g = attn.backward(q, k, v, dOut, s, { keyMask });
      const cfg = { kernel, dim: s.dim, w: attn.projection };
      const loss = (x: Float64Array[]) =>
        windowReference(cfg, x[0], x[1], x[2], s, { window: c.window, causal, keyMask, estimateLogScale: beta }).reduce((acc, y, i) => acc + y * dOut[i], 0);
      const inputs = [Float64Array.from(q), Float64Array.from(k), Float64Array.from(v)];
      const fd = inputs.map((x, which) => Float64Array.from(x, (_, i) => {
        const h = 1e-5;
        const up = inputs.map((a) => a.slice());
        up[which][i] += h;
        const down = inputs.map((a) => a.slice());
        down[which][i] -= h;
        return (loss(up) - loss(down)) / (2 * h);
      }));
      const got = [g.dq, g.dk, g.dv];
      const norm = Math.sqrt(fd.reduce((acc, x) => acc + x.reduce((t, y) => t + y * y, 0), 0));
      got.forEach((x, w) => {
        const diff = Math.sqrt(x.reduce((acc, y, i) => acc + (y - fd[w][i]) ** 2, 0));
        assert.ok(diff / norm <= 1e-5, `${kernel} causal ${causal} ${JSON.stringify(c)} ${['dq', 'dk', 'dv'][w]}: ${diff / norm}`);
        worst = Math.max(worst, diff / norm);
      });
    });
  }
  console.log(`    worst gradient error ${worst.toExponential(2)} of the gradient's norm (12 cases)`);
});

test('estimateLogScale tfjs op: forward and gradients are FavorAttention.forward and backward, bit for bit', () => {
  const s = { batch: 2, heads: 2, queries: 20, keys: 20, dim: 8, valueDim: 8 };
  const a = attentionInputs(s, 7);
  const [q, k, v, dy] = [a.q, a.k, a.v, a.dOut].map((x) => tf.tensor4d(x, [2, 2, 20, 8]));
  for (const causal of [false, true]) {
    const options = { features: 16, seed: 2, window: 3, causal, estimateLogScale: 1.25 };
    const out = favorAttention(q, k, v, options).dataSync() as Float32Array;
    const attn = new FavorAttention({ dim: 8, ...options });
    assert.equal(bits(out), bits(attn.forward(a.q, a.k, a.v, s)));
    const grads = tf.grads((qt: tf.Tensor, kt: tf.Tensor, vt: tf.Tensor) => favorAttention(qt, kt, vt, options))([q, k, v], dy);
    const g = attn.backward(a.q, a.k, a.v, a.dOut, s);
    assert.equal(grads.map((t) => bits(t.dataSync() as Float32Array)), [bits(g.dq), bits(g.dk), bits(g.dv)]);
  }
});

test('estimateLogScale threads: 2 threads give the one-thread results, bit for bit', async () => {
  const s = { batch: 2, heads: 3, queries: 150, keys: 170, dim: 8, valueDim: 5 };
  const { q, k, v } = attentionInputs(s, 9);
  const configs = [{ causal: false, window: 4 }, { causal: true, window: 70 }];
  const make = (c: { causal: boolean; window: number }) => new FavorAttention({ dim: 8, features: 24, seed: 3, chunkSize: 64, estimateLogScale: -0.8, ...c });
  initSync(undefined, { relaxedSimd: false });
  const single = configs.map((c) => make(c).forward(q, k, v, s));
  const saved = threading.minRows;
  await init(undefined, { relaxedSimd: false, threads: 2 });
  try {
    threading.minRows = 0;
    configs.forEach((c, i) => assert.equal(bits(make(c).forward(q, k, v, s)), bits(single[i]), JSON.stringify(c)));
  } finally {
    threading.minRows = saved;
    initSync(undefined, { relaxedSimd: false });
  }
});

test('estimateLogScale: extreme β (±80) stays finite and matches the reference (one part vanishes, the other is exact)', () => {
  const c = CASES[6];
  const s = c.shape;
  const { q, k, v } = attentionInputs(s, 42);
  const keyMask = maskOf(c);
  for (const causal of [false, true]) for (const beta of [-80, 80]) {
    const attn = new FavorAttention({ dim: s.dim, features: c.features, causal, window: c.window, chunkSize: c.chunkSize, estimateLogScale: beta });
    const out = attn.forward(q, k, v, s, { keyMask });
    assert.ok(allFinite(out));
    const ref = windowReference({ kernel: 'softmax', dim: s.dim, w: attn.projection }, q, k, v, s, { window: c.window, causal, keyMask, estimateLogScale: beta });
    assert.ok(relError(out, ref) <= FIDELITY, `β ${beta} causal ${causal}: ${relError(out, ref)}`);
  }
});

test('estimateLogScale: bad values are INVALID_OPTION before any work', () => {
  for (const value of [NaN, Infinity, -Infinity, '1', null, true, [1]]) {
    throwsCode(() => new FavorAttention({ dim: 4, window: 2, estimateLogScale: value as never }), 'INVALID_OPTION');
  }
  const attn = new FavorAttention({ dim: 4, features: 8, window: 2, estimateLogScale: -3 });
  assert.is(attn.estimateLogScale, -3);
  const x = randn(12, 1);
  assert.ok(allFinite(attn.forward(x, x, x, { queries: 3, dim: 4 })));
});

test.run();
