// The thread pool: every result against the one-thread pass (bit for bit where a head runs whole on
// one thread; to rounding where one head is split along the sequence), and the init options.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import './support/setup.ts';
import { exactAttention, FavorAttention, init, initSync, runtimeInfo } from '../src/index.ts';
import { rounds } from '../src/threads/threaded.ts';
import { runtime } from '../src/runtime/wasm.ts';
import { allFinite, randn, relError } from './support/data.ts';
import { throwsCode } from './support/expect.ts';

// A split head sums keys in two parts and merges them in float64: the same numbers in another order.
const SPLIT = 1e-6;

interface Case { batch: number; heads: number; queries: number; keys: number; dim: number; valueDim: number; causal: boolean; kernel: string; masked?: boolean }

const CASES: Case[] = [
  { batch: 2, heads: 4, queries: 300, keys: 300, dim: 16, valueDim: 8, causal: false, kernel: 'softmax' },
  { batch: 1, heads: 3, queries: 257, keys: 400, dim: 8, valueDim: 8, causal: false, kernel: 'softmax-hyperbolic', masked: true },
  { batch: 3, heads: 1, queries: 200, keys: 200, dim: 8, valueDim: 5, causal: true, kernel: 'softmax', masked: true },
  { batch: 1, heads: 5, queries: 180, keys: 150, dim: 4, valueDim: 4, causal: true, kernel: 'relu' },       // the first 30 queries see nothing
  { batch: 1, heads: 2, queries: 150, keys: 180, dim: 4, valueDim: 4, causal: true, kernel: 'softmax-trig' }, // a 30-key prefix
  { batch: 1, heads: 1, queries: 1500, keys: 1300, dim: 16, valueDim: 7, causal: false, kernel: 'softmax' }, // split head
  { batch: 1, heads: 1, queries: 600, keys: 700, dim: 8, valueDim: 8, causal: false, kernel: 'exp', masked: true },
  { batch: 1, heads: 3, queries: 130, keys: 170, dim: 8, valueDim: 6, causal: false, kernel: 'softmax-hyperbolic-normalized', masked: true },
  { batch: 2, heads: 2, queries: 150, keys: 150, dim: 8, valueDim: 6, causal: true, kernel: 'softmax-hyperbolic-normalized' },
  { batch: 1, heads: 1, queries: 1300, keys: 1200, dim: 8, valueDim: 5, causal: false, kernel: 'softmax-hyperbolic-normalized' }, // split head
  { batch: 2, heads: 35, queries: 20, keys: 24, dim: 4, valueDim: 3, causal: false, kernel: 'softmax', masked: true }, // 70 heads: > 64 job slots
];

function run(c: Case) {
  const bh = c.batch * c.heads;
  const q = randn(bh * c.queries * c.dim, 1, 0.5);
  const k = randn(bh * c.keys * c.dim, 2, 0.5);
  const v = randn(bh * c.keys * c.valueDim, 3);
  const keyMask = c.masked ? new Uint8Array(c.batch * c.keys).map((_, i) => (i % 7 === 3 ? 0 : 1)) : undefined;
  const attn = new FavorAttention({ dim: c.dim, features: 40, kernel: c.kernel as never, causal: c.causal, seed: 4, chunkSize: 64 });
  const { batch, heads, queries, keys, dim, valueDim } = c;
  return attn.forward(q, k, v, { batch, heads, queries, keys, dim, valueDim }, { keyMask });
}

test('threads: 2 threads give the one-thread results', async () => {
  initSync(undefined, { relaxedSimd: false });
  const single = CASES.map(run);
  await init(undefined, { relaxedSimd: false, threads: 2 });
  assert.equal(runtimeInfo(), { build: 'baseline', threads: 2 });
  CASES.forEach((c, i) => {
    const out = run(c);
    assert.ok(allFinite(out));
    const split = c.batch * c.heads === 1 && !c.causal;
    if (split) {
      const err = relError(out, single[i]);
      assert.ok(err <= SPLIT, `split head ${JSON.stringify(c)}: ${err.toExponential(2)}`);
    } else {
      assert.ok(out.every((x, j) => Object.is(x, single[i][j])), `not bit-identical: ${JSON.stringify(c)}`);
    }
  });
  // rounds of one head per thread (the smallest round) instead of every head at once: the same bits
  const { roundBytes } = rounds;
  rounds.roundBytes = 0;
  try {
    CASES.forEach((c, i) => {
      if (c.batch * c.heads === 1) return;
      assert.ok(run(c).every((x, j) => Object.is(x, single[i][j])), `rounds of 2 heads, not bit-identical: ${JSON.stringify(c)}`);
    });
  } finally {
    rounds.roundBytes = roundBytes;
  }
});

test('threads: exact attention splits query rows over the threads, with the one-thread bits', async () => {
  const shapes = [{ heads: 1, queries: 700, keys: 900 }, { heads: 3, queries: 300, keys: 200 }, { heads: 2, queries: 129, keys: 129 }];
  const inputs = shapes.map((c, i) => ({ q: randn(c.heads * c.queries * 16, i, 0.7), k: randn(c.heads * c.keys * 16, i + 1, 0.7), v: randn(c.heads * c.keys * 8, i + 2) }));
  const run = () => shapes.flatMap((c, i) => [false, true].map((causal) =>
    exactAttention(inputs[i].q, inputs[i].k, inputs[i].v, { ...c, dim: 16, valueDim: 8 }, { causal })));
  const threaded = run();
  initSync(undefined, { relaxedSimd: false });
  const single = run();
  await init(undefined, { relaxedSimd: false, threads: 2 });
  threaded.forEach((out, j) => assert.ok(out.every((x, i) => Object.is(x, single[j][i])), `case ${j}`));
});

test('threads: a decoder and exact attention keep working on the threaded instance', async () => {
  const attn = new FavorAttention({ dim: 8, features: 16, causal: true, seed: 1 });
  const dec = attn.decoder({ heads: 2 });
  const y = dec.step(randn(16, 1), randn(16, 2), randn(16, 3));
  assert.ok(allFinite(y));
});

test('threads: a worker that ends while holding a job fails the call with KERNEL_FAULT (no hang) and is replaced', async () => {
  await init(undefined, { relaxedSimd: false, threads: 2 });
  const pool = runtime().pool!;
  const shape = { heads: 8, queries: 512, dim: 16 };
  const [q, k, v] = [randn(8 * 512 * 16, 1, 0.5), randn(8 * 512 * 16, 2, 0.5), randn(8 * 512 * 16, 3)];
  const attn = new FavorAttention({ dim: 16, features: 32, seed: 1 });
  const before = attn.forward(q, k, v, shape);
  pool.crashWorkerForTest();
  const message = throwsCode(() => attn.forward(q, k, v, shape), 'KERNEL_FAULT');
  assert.match(message, /thread ended/);
  for (let i = 0; i < 100 && (pool.replaced < 1 || pool.live < 1); i++) await new Promise((r) => setTimeout(r, 50));
  assert.is(pool.replaced, 1, 'the dead worker was replaced');
  assert.is(pool.live, 1);
  const after = attn.forward(q, k, v, shape);
  assert.ok(after.every((x, i) => Object.is(x, before[i])), 'the next call gives the same bits');
});

test('threads: options are checked; initSync cannot start workers', () => {
  throwsCode(() => initSync(undefined, { threads: 2 }), 'INVALID_OPTION');
  throwsCode(() => initSync(undefined, { threads: 0 }), 'INVALID_SIZE');
  throwsCode(() => initSync(undefined, { threads: 1.5 }), 'INVALID_SIZE');
  // back to the one-thread baseline build that the other test files expect
  initSync(undefined, { relaxedSimd: false });
  assert.equal(runtimeInfo(), { build: 'baseline', threads: 1 });
});

test.run();
