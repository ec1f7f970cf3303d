// The recurrent decoder: step and prefill against the parallel causal forward, saved states, and a
// long run against float64.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import { FavorAttention, PerformerError } from '../../src/index.ts';
import { KERNEL_NAMES } from '../../src/feature-maps/kernels.ts';
import { allFinite, randn, relError } from '../support/data.ts';
import { featureVector } from '../reference/favor.ts';

// step/prefill against the parallel forward: different arithmetic for the same estimator (float64
// state and dot products in step, float32 GEMMs in chunks), so the causal fidelity tolerance applies.
const AGREE = 1e-5;

/** Rows of position t of every (batch, head) from a [b, h, L, width] buffer. */
function position(x: Float32Array, count: number, L: number, width: number, t: number): Float32Array {
  const out = new Float32Array(count * width);
  for (let r = 0; r < count; r++) out.set(x.subarray((r * L + t) * width, (r * L + t + 1) * width), r * width);
  return out;
}

function setup(kernel = 'softmax' as (typeof KERNEL_NAMES)[number], L = 150) {
  const [batch, heads, dim, valueDim] = [2, 3, 8, 5];
  const count = batch * heads;
  const sigma = kernel === 'softmax-trig' ? 0.2 : kernel === 'gelu' ? 1.5 : 0.5;
  const q = randn(count * L * dim, 1, sigma);
  const k = randn(count * L * dim, 2, sigma);
  const v = randn(count * L * valueDim, 3);
  const attn = new FavorAttention({ dim, features: 19, kernel, seed: 5, causal: true, chunkSize: 32 });
  const shape = { batch, heads, queries: L, dim, valueDim };
  return { batch, heads, dim, valueDim, count, L, q, k, v, attn, shape };
}

for (const kernel of KERNEL_NAMES) {
  test(`decoder ${kernel}: step by step equals the parallel causal forward`, () => {
    const c = setup(kernel);
    const full = c.attn.forward(c.q, c.k, c.v, c.shape);
    const dec = c.attn.decoder({ batch: c.batch, heads: c.heads, valueDim: c.valueDim });
    const stepped = new Float32Array(full.length);
    for (let t = 0; t < c.L; t++) {
      const o = dec.step(position(c.q, c.count, c.L, c.dim, t), position(c.k, c.count, c.L, c.dim, t), position(c.v, c.count, c.L, c.valueDim, t));
      for (let r = 0; r < c.count; r++) stepped.set(o.subarray(r * c.valueDim, (r + 1) * c.valueDim), (r * c.L + t) * c.valueDim);
    }
    assert.is(dec.position, c.L);
    assert.ok(relError(stepped, full) <= AGREE, `${kernel}: ${relError(stepped, full).toExponential(2)}`);
  });
}

test('decoder: prefill then steps equals the parallel forward', () => {
  const c = setup('softmax-hyperbolic');
  const full = c.attn.forward(c.q, c.k, c.v, c.shape);
  const n = 97; // prefill the first 97 tokens (three chunks and a part), then step
  const slice = (x: Float32Array, width: number, from: number, to: number) => {
    const out = new Float32Array(c.count * (to - from) * width);
    for (let r = 0; r < c.count; r++) out.set(x.subarray((r * c.L + from) * width, (r * c.L + to) * width), r * (to - from) * width);
    return out;
  };
  const dec = c.attn.decoder({ batch: c.batch, heads: c.heads, valueDim: c.valueDim });
  const pre = dec.prefill(slice(c.q, c.dim, 0, n), slice(c.k, c.dim, 0, n), slice(c.v, c.valueDim, 0, n), n);
  assert.ok(relError(pre, slice(full, c.valueDim, 0, n)) <= AGREE);
  assert.is(dec.position, n);
  for (let t = n; t < c.L; t++) {
    const o = dec.step(position(c.q, c.count, c.L, c.dim, t), position(c.k, c.count, c.L, c.dim, t), position(c.v, c.count, c.L, c.valueDim, t));
    assert.ok(relError(o, position(full, c.count, c.L, c.valueDim, t)) <= AGREE, `t = ${t}`);
  }
});

test('decoder: save → load → continue equals an uninterrupted run, bit for bit', () => {
  const c = setup('softmax', 60);
  const stepAt = (dec: ReturnType<typeof c.attn.decoder>, t: number) =>
    dec.step(position(c.q, c.count, c.L, c.dim, t), position(c.k, c.count, c.L, c.dim, t), position(c.v, c.count, c.L, c.valueDim, t));
  const a = c.attn.decoder({ batch: c.batch, heads: c.heads, valueDim: c.valueDim });
  const b = c.attn.decoder({ batch: c.batch, heads: c.heads, valueDim: c.valueDim });
  for (let t = 0; t < 30; t++) { stepAt(a, t); stepAt(b, t); }
  const bytes = b.saveState();
  b.dispose();
  // a different instance with the same configuration continues it (as another request of an edge worker would)
  const other = new FavorAttention({ dim: c.dim, features: 19, seed: 5, causal: true, chunkSize: 32 });
  const resumed = other.decoderFromState(bytes);
  assert.is(resumed.position, 30);
  assert.equal([resumed.batch, resumed.heads, resumed.valueDim], [c.batch, c.heads, c.valueDim]);
  for (let t = 30; t < 60; t++) {
    const x = stepAt(a, t);
    const y = stepAt(resumed, t);
    assert.equal(Array.from(new Uint32Array(y.buffer)), Array.from(new Uint32Array(x.buffer)), `t = ${t}`);
  }
  assert.equal(Array.from(resumed.saveState()), Array.from(a.saveState()));
});

test('decoder: states from another projection, kernel or size, and tampered bytes, are refused', () => {
  const c = setup('softmax', 10);
  const dec = c.attn.decoder({ heads: 2 });
  dec.step(randn(2 * c.dim, 7), randn(2 * c.dim, 8), randn(2 * c.dim, 9));
  const bytes = dec.saveState();
  const refuse = (attn: FavorAttention, b: unknown, code = 'INVALID_STATE') => {
    try {
      attn.decoderFromState(b as Uint8Array);
    } catch (error) {
      assert.instance(error, PerformerError);
      assert.is((error as PerformerError).code, code, (error as Error).message);
      return;
    }
    assert.unreachable('accepted');
  };
  refuse(new FavorAttention({ dim: c.dim, features: 19, seed: 6, causal: true }), bytes); // another projection
  refuse(new FavorAttention({ dim: c.dim, features: 19, seed: 5, kernel: 'softmax-hyperbolic' }), bytes);
  refuse(new FavorAttention({ dim: c.dim, features: 20, seed: 5 }), bytes);
  refuse(new FavorAttention({ dim: c.dim + 1, features: 19, seed: 5 }), bytes);
  refuse(c.attn, bytes.subarray(0, bytes.length - 9)); // truncated
  const tampered = bytes.slice();
  tampered[100] ^= 1;
  refuse(c.attn, tampered);
  refuse(c.attn, new Uint8Array(10));
  refuse(c.attn, [1, 2, 3], 'INVALID_TYPE');
  const redrawn = new FavorAttention({ dim: c.dim, features: 19, seed: 5 });
  redrawn.redraw();
  refuse(redrawn, bytes);
  assert.ok(c.attn.decoderFromState(bytes).position === 1, 'the right instance still accepts it');
});

test('decoder: 100 000 steps stay finite and agree with a float64 run at checkpoints', () => {
  const [dim, features, steps] = [8, 16, 100_000];
  const attn = new FavorAttention({ dim, features, seed: 11, causal: true });
  const w = attn.projection;
  const dec = attn.decoder();
  const S = new Float64Array(features * dim);
  const z = new Float64Array(features);
  const q = randn(dim, 0);
  const k = randn(dim, 0);
  const v = randn(dim, 0);
  const data = randn(3 * dim * 1000, 21, 0.5);
  const out = new Float32Array(dim);
  let worst = 0;
  for (let t = 0; t < steps; t++) {
    const base = (t % 1000) * 3 * dim;
    q.set(data.subarray(base, base + dim));
    k.set(data.subarray(base + dim, base + 2 * dim));
    v.set(data.subarray(base + 2 * dim, base + 3 * dim));
    dec.step(q, k, v, out);
    const pk = featureVector({ kernel: 'softmax', dim, w }, k);
    for (let r = 0; r < features; r++) {
      z[r] += pk[r];
      for (let c = 0; c < dim; c++) S[r * dim + c] += pk[r] * v[c];
    }
    if ((t + 1) % 10_000 === 0) {
      assert.ok(allFinite(out), `step ${t + 1}`);
      const pq = featureVector({ kernel: 'softmax', dim, w }, q);
      const den = pq.reduce((acc, x, r) => acc + x * z[r], 0);
      const ref = Array.from({ length: dim }, (_, c) => pq.reduce((acc, x, r) => acc + x * S[r * dim + c], 0) / den);
      worst = Math.max(worst, relError(out, ref));
    }
  }
  console.log(`    decoder drift over ${steps} steps: max relative error ${worst.toExponential(2)} at the 10 checkpoints`);
  assert.ok(worst <= AGREE, `drift ${worst.toExponential(2)}`);
});

test.run();
