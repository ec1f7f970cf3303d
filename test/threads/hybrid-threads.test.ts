// Hybrid attention on the thread pool: each head runs whole on one thread (assembly/hybrid/heads.ts),
// so the results are bit-identical to the one-thread pass (src/hybrid/forward.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import '../../src/threads/index.ts'; // the thread pool is opt-in
import { init, initSync, runtimeInfo } from '../../src/index.ts';
import { rounds } from '../../src/threads/threaded.ts';
import { runThreadCase, type ThreadCase } from '../support/thread-case.ts';
import { allFinite } from '../support/data.ts';

type Case = ThreadCase;

const CASES: Case[] = [
  { batch: 2, heads: 4, queries: 300, keys: 300, dim: 16, valueDim: 8, causal: false, window: 8, kernel: 'softmax' },
  { batch: 1, heads: 3, queries: 257, keys: 400, dim: 8, valueDim: 8, causal: false, window: 3, kernel: 'softmax-hyperbolic', masked: true },
  { batch: 3, heads: 1, queries: 200, keys: 200, dim: 8, valueDim: 5, causal: true, window: 70, kernel: 'softmax', masked: true }, // w > chunk
  { batch: 1, heads: 5, queries: 180, keys: 150, dim: 4, valueDim: 4, causal: true, window: 5, kernel: 'softmax' },   // 30 queries see nothing
  { batch: 1, heads: 2, queries: 150, keys: 180, dim: 4, valueDim: 4, causal: true, window: 2, kernel: 'softmax-trig' },
  { batch: 2, heads: 35, queries: 20, keys: 24, dim: 4, valueDim: 3, causal: false, window: 1, kernel: 'softmax', masked: true }, // > 64 job slots
  { batch: 2, heads: 2, queries: 90, keys: 90, dim: 6, valueDim: 3, causal: true, window: 500, kernel: 'softmax' }, // every key exact
];

const run = runThreadCase;

test('window threads: 2 threads give the one-thread results, bit for bit (also one head per round)', async () => {
  initSync(undefined, { relaxedSimd: false });
  const single = CASES.map(run);
  await init(undefined, { relaxedSimd: false, threads: 2 });
  try {
    assert.equal(runtimeInfo(), { build: 'baseline', threads: 2 });
    const check = () => CASES.forEach((c, i) => {
      const out = run(c);
      assert.ok(allFinite(out));
      assert.ok(out.every((x, j) => Object.is(x, single[i][j])), `not bit-identical: ${JSON.stringify(c)}`);
    });
    check();
    const { roundBytes } = rounds;
    rounds.roundBytes = 0;
    try { check(); } finally { rounds.roundBytes = roundBytes; }
  } finally {
    initSync(undefined, { relaxedSimd: false });
  }
});

test.run();
