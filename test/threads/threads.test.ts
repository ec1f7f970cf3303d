// The thread pool: every result against the one-thread pass (bit for bit where a head runs whole on
// one thread; to rounding where one head is split along the sequence), and the init options.
import { execFileSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import { exactAttention, FavorAttention, init, initSync, PerformerError, runtimeInfo } from '../../src/index.ts';
import '../../src/threads/index.ts'; // the thread pool is opt-in
import { workerErrorMessage } from '../../src/threads/pool.ts';
import { rounds } from '../../src/threads/threaded.ts';
import { runtime } from '../../src/runtime/wasm.ts';
import { registerThreads, threadsPart } from '../../src/runtime/threads-registry.ts';
import { assertBuilt, ROOT } from '../package/runtimes/harness.ts';
import { runThreadCase, type ThreadCase } from '../support/thread-case.ts';
import { allFinite, randn, relError } from '../support/data.ts';
import { throwsCode } from '../support/expect.ts';

// A split head sums keys in two parts and merges them in float64: the same numbers in another order.
const SPLIT = 1e-6;

type Case = ThreadCase;

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

const run = runThreadCase;

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

test('threads: a pool that cannot start falls back to one thread, says why, gives the one-thread bits, survives a trap', async () => {
  initSync(undefined, { relaxedSimd: false });
  const cases = CASES.slice(0, 3);
  const single = cases.map(run);
  const part = threadsPart()!;
  registerThreads({ ...part, start: () => Promise.reject(new PerformerError('INIT_FAILED', 'a pool worker failed to start: (test) no worker')) });
  try {
    await init(undefined, { relaxedSimd: false, threads: 2 });
  } finally {
    registerThreads(part);
  }
  assert.equal(runtimeInfo(), { build: 'baseline', threads: 1, threadFallback: 'a pool worker failed to start: (test) no worker; running on one thread' });
  const same = (what: string) => cases.forEach((c, i) => assert.ok(run(c).every((x, j) => Object.is(x, single[i][j])), `${what}: ${JSON.stringify(c)}`));
  same('the shared-memory instance on one thread');
  // one genuine out-of-bounds trap: KERNEL_FAULT, and the rebuilt instance (same shared memory) works
  const rt = runtime();
  const real = rt.exports.exact_attention;
  let calls = 0;
  (rt as { exports: typeof rt.exports }).exports = { ...rt.exports, exact_attention: (...args: Parameters<typeof real>) => {
    if (calls++ === 0) args[0] = 0xfffffff0; // the pass descriptor
    return real(...args);
  } };
  const [q, k, v] = [randn(2 * 40 * 8, 1), randn(2 * 40 * 8, 2), randn(2 * 40 * 8, 3)];
  throwsCode(() => exactAttention(q, k, v, { heads: 2, queries: 40, dim: 8 }), 'KERNEL_FAULT');
  assert.ok(runtime() !== rt && rt.retired === 'fault');
  assert.is(runtimeInfo().threads, 1);
  same('after the trap');
});

test('threads: a Web Worker error event becomes words, never [object Event]', () => {
  const missing = workerErrorMessage(new Event('error'));
  assert.match(missing, /pool-worker\.js could not be loaded \(esbuild: build performer-wasm\/pool-worker as an entry point named pool-worker beside the bundle; Vite's dev server: optimizeDeps\.exclude \['performer-wasm'\]\)$/);
  const thrown = { type: 'error', message: 'Uncaught SyntaxError: Unexpected token', filename: 'http://x/pool-worker.js', lineno: 3 } as unknown as Event;
  assert.is(workerErrorMessage(thrown), 'Uncaught SyntaxError: Unexpected token (http://x/pool-worker.js:3)');
});

test("threads: without `import 'performer-wasm/threads'`, init({ threads: 2 }) says what to import (the built package)", () => {
  assertBuilt();
  const script = "import { init } from 'performer-wasm'; await init(undefined, { threads: 2 }).catch((e) => console.log(`${e.code}: ${e.message}`));";
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  assert.is(out.trim(), "INVALID_OPTION: threads > 1 need the thread pool: `import 'performer-wasm/threads'` once before init");
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
