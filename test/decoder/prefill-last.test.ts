// prefill(…, { outputs: 'last' }): the chunks before the last one add their keys only. Its answer must be the last
// row of a full prefill and its state the full prefill's, bit for bit (the same chunks, the same state updates), on
// odd sizes, every kernel, a window, a non-empty state and a centring shift; bad options are refused before any work.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import { FavorAttention, PerformerError } from '../../src/index.ts';
import { KERNEL_NAMES } from '../../src/feature-maps/kernels.ts';
import { randn } from '../support/data.ts';

/** The bits of floats (a NaN or a signed zero compares as itself). */
const bits = (x: Float32Array) => Array.from(new Uint32Array(x.slice().buffer));

/** The last token's rows of every (batch, head) of a [count, n, dv] prefill answer. */
function lastRows(all: Float32Array, count: number, n: number, dv: number): Float32Array {
  const out = new Float32Array(count * dv);
  for (let r = 0; r < count; r++) out.set(all.subarray((r * n + n - 1) * dv, (r * n + n) * dv), r * dv);
  return out;
}

interface Case { dim: number; valueDim: number; features: number; chunkSize: number; kernel?: (typeof KERNEL_NAMES)[number]; window?: number }

/** Two decoders of the case: `before` tokens stepped into both, then a prefill of n, all outputs vs the last only. */
function compare(c: Case, batch: number, heads: number, before: number, n: number, label: string): void {
  const { dim, valueDim } = c;
  const count = batch * heads;
  const attn = new FavorAttention({ dim, features: c.features, kernel: c.kernel ?? 'softmax', seed: 3, causal: true, chunkSize: c.chunkSize,
                                    ...(c.window ? { window: c.window } : {}) });
  const full = attn.decoder({ batch, heads, valueDim });
  const last = attn.decoder({ batch, heads, valueDim });
  const sigma = c.kernel === 'softmax-trig' ? 0.2 : 0.6;
  for (let t = 0; t < before; t++) {
    const [q, k, v] = [randn(count * dim, 10 + t, sigma), randn(count * dim, 500 + t, sigma), randn(count * valueDim, 900 + t)];
    full.step(q, k, v);
    last.step(q, k, v);
  }
  const q = randn(count * n * dim, 1, sigma), k = randn(count * n * dim, 2, sigma), v = randn(count * n * valueDim, 3);
  const all = full.prefill(q, k, v, n);
  const out = last.prefill(q, k, v, n, undefined, { outputs: 'last' });
  assert.is(out.length, count * valueDim, label);
  assert.equal(bits(out), bits(lastRows(all, count, n, valueDim)), `${label}: the last outputs`);
  assert.is(last.position, full.position, label);
  assert.equal(Array.from(last.saveState()), Array.from(full.saveState()), `${label}: the state`);
  // and the next step of each gives the same bits
  const [q1, k1, v1] = [randn(count * dim, 7, sigma), randn(count * dim, 8, sigma), randn(count * valueDim, 9)];
  assert.equal(bits(last.step(q1, k1, v1)), bits(full.step(q1, k1, v1)), `${label}: the next step`);
  full.dispose();
  last.dispose();
}

test("prefill outputs 'last': the last row and the state of a full prefill, bit for bit, on odd sizes", () => {
  const cases: Case[] = [
    { dim: 1, valueDim: 1, features: 1, chunkSize: 4 },
    { dim: 7, valueDim: 5, features: 13, chunkSize: 8 },
    { dim: 16, valueDim: 3, features: 30, chunkSize: 16 },
    { dim: 8, valueDim: 11, features: 9, chunkSize: 64 },
  ];
  for (const c of cases) {
    // n: one token, under a chunk, a chunk, one past it, several chunks and a part; staged blocks of ≤ 2048 rows past one block
    for (const n of [1, c.chunkSize - 1, c.chunkSize, c.chunkSize + 1, 3 * c.chunkSize + 2, 2100]) {
      for (const before of [0, 5]) compare(c, n > 1000 ? 1 : 2, n > 1000 ? 1 : 3, before, n, `d ${c.dim} dv ${c.valueDim} m ${c.features} C ${c.chunkSize} n ${n} after ${before}`);
    }
  }
});

for (const kernel of KERNEL_NAMES) {
  test(`prefill outputs 'last', ${kernel}: bit for bit`, () => {
    compare({ dim: 8, valueDim: 5, features: 19, chunkSize: 16, kernel }, 2, 2, 3, 41, kernel);
  });
}

test("prefill outputs 'last' with a window: the last row of the hybrid prefill", () => {
  for (const before of [0, 4]) compare({ dim: 8, valueDim: 6, features: 12, chunkSize: 8, window: 3 }, 1, 2, before, 21, `window 3 after ${before}`);
});

test("prefill outputs 'last' with centred keys: bit for bit", () => {
  const attn = new FavorAttention({ dim: 4, features: 10, seed: 2, causal: true, chunkSize: 8, centerKeys: Float32Array.from([0.5, -0.25, 1, 0]) });
  const [a, b] = [attn.decoder({ heads: 2 }), attn.decoder({ heads: 2 })];
  const n = 19;
  const q = randn(2 * n * 4, 4, 0.5), k = randn(2 * n * 4, 5, 0.5), v = randn(2 * n * 4, 6);
  const all = a.prefill(q, k, v, n);
  assert.equal(bits(b.prefill(q, k, v, n, undefined, { outputs: 'last' })), bits(lastRows(all, 2, n, 4)));
  assert.equal(Array.from(b.saveState()), Array.from(a.saveState()));
});

test("prefill outputs 'last': a caller's out of one row per sequence; bad options refused before any work", () => {
  const attn = new FavorAttention({ dim: 4, features: 8, seed: 1, causal: true });
  const dec = attn.decoder({ heads: 2 });
  const n = 5;
  const q = randn(2 * n * 4, 1, 0.5), k = randn(2 * n * 4, 2, 0.5), v = randn(2 * n * 4, 3);
  const state = Array.from(dec.saveState());
  const refuse = (run: () => unknown, code: string) => {
    try {
      run();
    } catch (error) {
      assert.instance(error, PerformerError);
      assert.is((error as PerformerError).code, code, (error as Error).message);
      assert.equal(Array.from(dec.saveState()), state, 'the state did not move');
      return;
    }
    assert.unreachable(`accepted (expected ${code})`);
  };
  refuse(() => dec.prefill(q, k, v, n, undefined, { outputs: 'first' as 'last' }), 'INVALID_OPTION');
  refuse(() => dec.prefill(q, k, v, n, undefined, { output: 'last' } as object), 'UNKNOWN_OPTION');
  refuse(() => dec.prefill(q, k, v, n, undefined, 'last' as unknown as object), 'INVALID_TYPE');
  refuse(() => dec.prefill(q, k, v, n, new Float32Array(2 * n * 4), { outputs: 'last' }), 'INVALID_LENGTH'); // every row's length
  const out = new Float32Array(2 * 4);
  assert.is(dec.prefill(q, k, v, n, out, { outputs: 'last' }), out);
  assert.is(dec.position, n);
});

test.run();
