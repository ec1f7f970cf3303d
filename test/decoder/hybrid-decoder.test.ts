// The hybrid (exact window + FAVOR+) decoder: step and prefill against the parallel causal window forward,
// saved states (version 2 with the ring; plain decoders still write version 1), and a fixed key shift.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import { FavorAttention, PerformerError, type KernelName } from '../../src/index.ts';
import { allFinite, randn, relError } from '../support/data.ts';

// step (float64 state, one token) and prefill (float32 chunk GEMMs) against the parallel forward: the same
// estimator in different arithmetic, as in test/decoder/decoder.test.ts.
const AGREE = 1e-5;

const [batch, heads, dim, valueDim, L] = [2, 3, 8, 5, 120];
const count = batch * heads;
const shape = { batch, heads, queries: L, dim, valueDim };

function data(kernel: KernelName) {
  const sigma = kernel === 'softmax-trig' ? 0.2 : 0.5;
  return { q: randn(count * L * dim, 1, sigma), k: randn(count * L * dim, 2, sigma), v: randn(count * L * valueDim, 3) };
}

/** Rows [from, to) of every (batch, head) of a [b, h, L, width] buffer. */
function slice(x: Float32Array, width: number, from: number, to: number): Float32Array {
  const out = new Float32Array(count * (to - from) * width);
  for (let r = 0; r < count; r++) out.set(x.subarray((r * L + from) * width, (r * L + to) * width), r * (to - from) * width);
  return out;
}

function attention(kernel: KernelName, window: number, centerKeys?: Float32Array) {
  return new FavorAttention({ dim, features: 19, kernel, seed: 5, causal: true, chunkSize: 32, window, centerKeys });
}

function stepAll(dec: ReturnType<FavorAttention['decoder']>, x: ReturnType<typeof data>, from: number, to: number): Float32Array {
  const out = new Float32Array(count * (to - from) * valueDim);
  for (let t = from; t < to; t++) {
    const o = dec.step(slice(x.q, dim, t, t + 1), slice(x.k, dim, t, t + 1), slice(x.v, valueDim, t, t + 1));
    for (let r = 0; r < count; r++) out.set(o.subarray(r * valueDim, (r + 1) * valueDim), (r * (to - from) + t - from) * valueDim);
  }
  return out;
}

for (const kernel of ['softmax', 'softmax-hyperbolic', 'softmax-trig'] as KernelName[]) {
  test(`window decoder ${kernel}: step by step equals the parallel causal forward (w = 1, 3, 40 > chunk)`, () => {
    const x = data(kernel);
    for (const w of [1, 3, 40]) {
      const attn = attention(kernel, w);
      const full = attn.forward(x.q, x.k, x.v, shape);
      const stepped = stepAll(attn.decoder({ batch, heads, valueDim }), x, 0, L);
      assert.ok(allFinite(stepped));
      assert.ok(relError(stepped, full) <= AGREE, `w ${w}: ${relError(stepped, full)}`);
    }
  });
}

test('window decoder: prefill in blocks (shorter and longer than the window) then steps equals the forward', () => {
  const x = data('softmax');
  for (const w of [2, 9]) {
    const attn = attention('softmax', w);
    const full = attn.forward(x.q, x.k, x.v, shape);
    const dec = attn.decoder({ batch, heads, valueDim });
    let t = 0;
    for (const n of [1, 3, 40, 5, 1, 20]) {
      const pre = dec.prefill(slice(x.q, dim, t, t + n), slice(x.k, dim, t, t + n), slice(x.v, valueDim, t, t + n), n);
      assert.ok(relError(pre, slice(full, valueDim, t, t + n)) <= AGREE, `w ${w} block at ${t}: ${relError(pre, slice(full, valueDim, t, t + n))}`);
      t += n;
    }
    assert.is(dec.position, t);
    const rest = stepAll(dec, x, t, L);
    assert.ok(relError(rest, slice(full, valueDim, t, L)) <= AGREE);
  }
});

test('window decoder: save → load → continue equals an uninterrupted run, bit for bit (version 2, the ring inside)', () => {
  const x = data('softmax');
  for (const at of [2, 30]) { // before the ring is full, and after
    const a = attention('softmax', 4).decoder({ batch, heads, valueDim });
    const b = attention('softmax', 4).decoder({ batch, heads, valueDim });
    stepAll(a, x, 0, at);
    stepAll(b, x, 0, at);
    const bytes = b.saveState();
    assert.is(bytes[4], 2, 'version 2');
    const resumed = attention('softmax', 4).decoderFromState(bytes);
    assert.is(resumed.position, at);
    const ya = stepAll(a, x, at, at + 20);
    const yb = stepAll(resumed, x, at, at + 20);
    assert.equal(Array.from(new Uint32Array(yb.buffer)), Array.from(new Uint32Array(ya.buffer)));
    assert.equal(Array.from(resumed.saveState()), Array.from(a.saveState()));
  }
});

test('window decoder: states of another window or key shift are refused; plain decoders still write version 1', () => {
  const x = data('softmax');
  const dec = attention('softmax', 4).decoder({ batch, heads, valueDim });
  stepAll(dec, x, 0, 7);
  const bytes = dec.saveState();
  const refuse = (attn: FavorAttention, b: Uint8Array) => {
    try {
      attn.decoderFromState(b);
    } catch (error) {
      assert.instance(error, PerformerError);
      assert.is((error as PerformerError).code, 'INVALID_STATE', (error as Error).message);
      return;
    }
    assert.unreachable('accepted');
  };
  refuse(attention('softmax', 5), bytes);
  refuse(attention('softmax', 0), bytes);
  refuse(attention('softmax', 4, new Float32Array(dim).fill(0.5)), bytes);
  const plain = attention('softmax', 0).decoder({ batch, heads, valueDim });
  stepAll(plain, x, 0, 7);
  const v1 = plain.saveState();
  assert.is(v1[4], 1, 'version 1');
  assert.is(v1.length, 48 + count * 8 * (1 + 19 + 19 * valueDim) + 4, 'the version-1 layout');
  refuse(attention('softmax', 4), v1);
  assert.is(attention('softmax', 0).decoderFromState(v1).position, 7);
  const shifted = attention('softmax', 0, new Float32Array(dim).fill(0.5)).decoder({ batch, heads, valueDim });
  stepAll(shifted, x, 0, 3);
  const withShift = shifted.saveState();
  assert.is(withShift[4], 2);
  refuse(attention('softmax', 0, new Float32Array(dim).fill(0.25)), withShift);
  refuse(attention('softmax', 0), withShift);
  assert.is(attention('softmax', 0, new Float32Array(dim).fill(0.5)).decoderFromState(withShift).position, 3);
});

test('decoder with a key shift: equals the causal forward with the same shift, and (exact window) the unshifted one', () => {
  const x = data('softmax');
  const shift = randn(dim, 9, 1);
  for (const w of [0, 3]) {
    const attn = attention('softmax', w, shift);
    const full = attn.forward(x.q, x.k, x.v, shape);
    const stepped = stepAll(attn.decoder({ batch, heads, valueDim }), x, 0, L);
    assert.ok(relError(stepped, full) <= AGREE, `w ${w}: ${relError(stepped, full)}`);
  }
  const exactish = attention('softmax', 2 * L, shift).forward(x.q, x.k, x.v, shape);
  const unshifted = attention('softmax', 2 * L).forward(x.q, x.k, x.v, shape);
  assert.ok(relError(exactish, unshifted) <= 1e-6);
});

test.run();
