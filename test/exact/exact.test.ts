import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import { exactAttention, memoryBytes, PerformerError, type AttentionShape, type PerformerErrorCode } from '../../src/index.ts';
import { checkWorkspaceBytes } from '../../src/runtime/heap.ts';
import { allFinite, relError } from '../support/data.ts';
import { throwsCode } from '../support/expect.ts';
import { describeCase, EXACT_CASES, makeProblem, type Case } from '../support/attention-cases.ts';
import { referenceAttention, referenceAttentionRow, type ReferenceOptions } from '../reference/attention.ts';

// Tolerance against the float64 reference: the kernel rounds in float32 (unit roundoff 6e-8) through
// dot products of ≤ 128 terms, a 2^x with relative error ≤ 1e-7, and sums over ≤ 400 keys; the error seen
// is ≤ 5e-7, so 1e-5 (the package-wide accuracy target) leaves a 20× margin without hiding a real bug
// (a wrong mask, a missed rescale or a dropped tile gives errors of 1e-2 and more).
const TOL = 1e-5;

const CASES = EXACT_CASES;

test(`matches the float64 reference on ${CASES.length} shapes (relative Frobenius error ≤ ${TOL})`, () => {
  let worst = 0;
  CASES.forEach((c, n) => {
    const { q, k, v, keyMask } = makeProblem(c, 100 + 10 * n);
    const out = exactAttention(q, k, v, c.shape, { causal: c.causal, keyMask });
    const want = referenceAttention(q, k, v, c.shape, { causal: c.causal, keyMask });
    assert.ok(allFinite(out), `non-finite output: ${describeCase(c)}`);
    const err = relError(out, want);
    worst = Math.max(worst, err);
    assert.ok(err <= TOL, `${describeCase(c)}: relative error ${err.toExponential(2)}`);
    // queries that see no key give exact zeros, where the reference does too
    for (let i = 0; i < want.length; i++) {
      if (want[i] === 0 && out[i] !== 0) assert.unreachable(`${describeCase(c)}: out[${i}] = ${out[i]}, want exactly 0`);
    }
  });
  console.log(`    exact vs float64: worst relative error ${worst.toExponential(2)} over ${CASES.length} shapes`);
});

test('a fully masked batch row and queries before every key give all-zero rows', () => {
  const shape = { batch: 2, heads: 2, queries: 10, keys: 6, dim: 4 };
  const { q, k, v } = makeProblem({ shape }, 7);
  const keyMask = new Uint8Array(12).fill(1);
  keyMask.fill(0, 0, 6); // batch 0: every key masked
  const out = exactAttention(q, k, v, shape, { causal: true, keyMask });
  const row = 10 * 4;
  for (let i = 0; i < 2 * row; i++) assert.is(out[i], 0); // batch 0, both heads
  // batch 1, causal with Lq > Lk: query i sees keys j ≤ i − 4, so queries 0..3 see none
  for (let h = 0; h < 2; h++) {
    const base = (2 + h) * row;
    for (let i = 0; i < 4 * 4; i++) assert.is(out[base + i], 0);
    for (let i = 4 * 4; i < row; i++) assert.ok(out[base + i] !== 0);
  }
});

test('large logits (q, k entries ~ N(0, 10²)) stay finite and accurate', () => {
  // Scores reach hundreds, so exp() without the running max would overflow at once. The float32 scores
  // themselves carry absolute errors of ~|s|·2^-24·√d ≈ 1e-5 here, which become relative errors of
  // the weights: 1e-4 is the honest bound for this regime (seen: ≤ 6e-6, at σ = 30).
  const cases: Case[] = [
    { shape: { queries: 100, dim: 16 }, sigma: 10 },
    { shape: { queries: 100, dim: 64 }, sigma: 10, causal: true },
    { shape: { batch: 2, heads: 2, queries: 70, keys: 150, dim: 32, valueDim: 8 }, sigma: 10, masked: 0.3, causal: true },
    { shape: { queries: 30, keys: 300, dim: 8 }, sigma: 30 },
  ];
  cases.forEach((c, n) => {
    const { q, k, v, keyMask } = makeProblem(c, 500 + 10 * n);
    const out = exactAttention(q, k, v, c.shape, { causal: c.causal, keyMask });
    assert.ok(allFinite(out), describeCase(c));
    const err = relError(out, referenceAttention(q, k, v, c.shape, { causal: c.causal, keyMask }));
    assert.ok(err <= 1e-4, `${describeCase(c)}: relative error ${err.toExponential(2)}`);
  });
});

test('causal: an output row does not depend on keys or values after its limit', () => {
  const shape = { queries: 100, keys: 100, dim: 8 };
  const { q, k, v } = makeProblem({ shape }, 31);
  const a = exactAttention(q, k, v, shape, { causal: true });
  const k2 = k.slice();
  const v2 = v.slice();
  for (let i = 51 * 8; i < k2.length; i++) {
    k2[i] = 50 * Math.sin(i);
    v2[i] = 1e6;
  }
  const b = exactAttention(q, k2, v2, shape, { causal: true });
  for (let i = 0; i < 51 * 8; i++) assert.is(b[i], a[i]); // rows 0..50: bit-identical
  assert.ok(b[99 * 8] !== a[99 * 8]);
});

test('the out option is filled and returned', () => {
  const shape = { batch: 2, heads: 1, queries: 5, keys: 9, dim: 3, valueDim: 2 };
  const { q, k, v } = makeProblem({ shape }, 41);
  const out = new Float32Array(2 * 5 * 2).fill(123);
  assert.is(exactAttention(q, k, v, shape, { out }), out);
  assert.ok(relError(out, referenceAttention(q, k, v, shape)) <= TOL);
});

test('L = 16384 runs in O(L) memory and matches the reference on sampled rows', () => {
  const L = 16384;
  const d = 16;
  const shape = { queries: L, dim: d };
  const { q, k, v } = makeProblem({ shape }, 61);
  const t0 = performance.now();
  const out = exactAttention(q, k, v, shape);
  const ms = performance.now() - t0;
  const bytes = memoryBytes();
  // q, k, v and out are 1 MiB each here; an L×L score matrix alone would be 4·L² = 1 GiB
  assert.ok(bytes < 64 * 2 ** 20, `wasm memory is ${bytes} bytes`);
  assert.ok(allFinite(out));
  const rows = [0, 1, 63, 64, 4095, 8191, 12345, L - 1];
  let worst = 0;
  for (const i of rows) {
    const want = referenceAttentionRow(q, k, v, shape, {}, 0, 0, i);
    const err = relError(out.subarray(i * d, (i + 1) * d), want);
    worst = Math.max(worst, err);
    assert.ok(err <= TOL, `row ${i}: relative error ${err.toExponential(2)}`);
  }
  console.log(`    L=${L}, d=${d}: ${ms.toFixed(0)} ms, wasm memory ${(bytes / 2 ** 20).toFixed(1)} MiB, sampled rows within ${worst.toExponential(2)}`);
});

// ---- bad inputs: each throws its code before any work, leaves out untouched, and the next call works ----

const SENTINEL = -777.25;
const GOOD_SHAPE = { batch: 2, heads: 2, queries: 9, keys: 11, dim: 5, valueDim: 3 };
const GOOD = makeProblem({ shape: GOOD_SHAPE, masked: 0.3 }, 71);
const GOOD_OPTIONS: ReferenceOptions = { causal: true, keyMask: GOOD.keyMask };
const GOOD_WANT = referenceAttention(GOOD.q, GOOD.k, GOOD.v, GOOD_SHAPE, GOOD_OPTIONS);
const OUT_LENGTH = 2 * 2 * 9 * 3;

function sentinelOut(length = OUT_LENGTH): Float32Array {
  return new Float32Array(length).fill(SENTINEL);
}

/** Runs `call`, expects a PerformerError with `code`, checks `out` is untouched, then checks a valid call. */
function expectFailure(code: PerformerErrorCode, call: (out: Float32Array) => unknown, out = sentinelOut()): void {
  throwsCode(() => call(out), code);
  for (let i = 0; i < out.length; i++) if (out[i] !== SENTINEL) assert.unreachable(`out[${i}] was written: ${out[i]}`);
  const after = exactAttention(GOOD.q, GOOD.k, GOOD.v, GOOD_SHAPE, { ...GOOD_OPTIONS, out: sentinelOut() });
  assert.ok(relError(after, GOOD_WANT) <= TOL, 'the valid call after the error is wrong');
}

const { q: Q, k: K, v: V, keyMask: MASK } = GOOD;
const OPTS = GOOD_OPTIONS;

test('INVALID_LENGTH: q, k, v, out and keyMask of the wrong length', () => {
  expectFailure('INVALID_LENGTH', (out) => exactAttention(Q.subarray(1), K, V, GOOD_SHAPE, { ...OPTS, out }));
  expectFailure('INVALID_LENGTH', (out) => exactAttention(Q, new Float32Array(K.length + 5), V, GOOD_SHAPE, { ...OPTS, out }));
  expectFailure('INVALID_LENGTH', (out) => exactAttention(Q, K, V.subarray(0, V.length - 3), GOOD_SHAPE, { ...OPTS, out }));
  expectFailure('INVALID_LENGTH', (out) => exactAttention(Q, K, V, GOOD_SHAPE, { ...OPTS, out }), sentinelOut(OUT_LENGTH - 1));
  expectFailure('INVALID_LENGTH', (out) => exactAttention(Q, K, V, GOOD_SHAPE, { ...OPTS, out }), sentinelOut(OUT_LENGTH + 1));
  expectFailure('INVALID_LENGTH', (out) => exactAttention(Q, K, V, GOOD_SHAPE, { causal: true, keyMask: MASK!.subarray(1), out }));
  // a shape that disagrees with the buffers
  expectFailure('INVALID_LENGTH', (out) => exactAttention(Q, K, V, { ...GOOD_SHAPE, keys: 10 }, { ...OPTS, out }));
});

test('INVALID_TYPE: number[] instead of Float32Array, keyMask not a Uint8Array, options not an object', () => {
  expectFailure('INVALID_TYPE', (out) => exactAttention(Array.from(Q) as unknown as Float32Array, K, V, GOOD_SHAPE, { ...OPTS, out }));
  expectFailure('INVALID_TYPE', (out) => exactAttention(Q, Float64Array.from(K) as unknown as Float32Array, V, GOOD_SHAPE, { ...OPTS, out }));
  expectFailure('INVALID_TYPE', (out) => exactAttention(Q, K, Array.from(V) as unknown as Float32Array, GOOD_SHAPE, { ...OPTS, out }));
  expectFailure('INVALID_TYPE', (out) => exactAttention(Q, K, V, GOOD_SHAPE, { causal: true, keyMask: Array.from(MASK!) as unknown as Uint8Array, out }));
  expectFailure('INVALID_TYPE', (out) => exactAttention(Q, K, V, GOOD_SHAPE, { causal: true, keyMask: Int8Array.from(MASK!) as unknown as Uint8Array, out }));
  expectFailure('INVALID_TYPE', () => exactAttention(Q, K, V, GOOD_SHAPE, { out: Array.from(sentinelOut()) as unknown as Float32Array }));
  expectFailure('INVALID_TYPE', () => exactAttention(Q, K, V, GOOD_SHAPE, 'causal' as never));
});

test('INVALID_SIZE: zero, negative, fractional, NaN and non-number sizes', () => {
  const bad: Record<string, unknown>[] = [
    { queries: 0 }, { keys: 0 }, { dim: -5 }, { valueDim: -3 }, { batch: 1.5 }, { heads: 0.5 }, { queries: NaN },
    { dim: Infinity }, { keys: '11' }, { heads: -Infinity },
  ];
  for (const patch of bad) {
    expectFailure('INVALID_SIZE', (out) => exactAttention(Q, K, V, { ...GOOD_SHAPE, ...patch } as AttentionShape, { ...OPTS, out }));
  }
});

test('NON_FINITE: NaN or ±Infinity anywhere in q, k or v', () => {
  const cases: [string, number, number][] = [['q', 0, NaN], ['q', Q.length - 1, Infinity], ['k', 17, -Infinity], ['k', K.length - 1, NaN], ['v', 0, Infinity], ['v', 40, NaN]];
  for (const [name, at, value] of cases) {
    const bad = { q: Q.slice(), k: K.slice(), v: V.slice() };
    bad[name as 'q' | 'k' | 'v'][at] = value;
    expectFailure('NON_FINITE', (out) => exactAttention(bad.q, bad.k, bad.v, GOOD_SHAPE, { ...OPTS, out }));
  }
});

test('UNKNOWN_OPTION: an unknown option key or shape key', () => {
  expectFailure('UNKNOWN_OPTION', (out) => exactAttention(Q, K, V, GOOD_SHAPE, { ...OPTS, out, casual: true } as never));
  expectFailure('UNKNOWN_OPTION', (out) => exactAttention(Q, K, V, { ...GOOD_SHAPE, valueDims: 3 } as never, { ...OPTS, out }));
  expectFailure('UNKNOWN_OPTION', (out) => exactAttention(Q, K, V, { ...GOOD_SHAPE, seqLen: 9 } as never, { ...OPTS, out }));
});

test('INVALID_OPTION: causal not a boolean, out sharing memory with an input', () => {
  for (const causal of [1, 'true', null, 0]) {
    expectFailure('INVALID_OPTION', (out) => exactAttention(Q, K, V, GOOD_SHAPE, { causal: causal as never, keyMask: MASK, out }));
  }
  // out overlapping q: q itself must stay untouched as well
  const shared = new Float32Array(Q.length + OUT_LENGTH);
  shared.set(Q);
  shared.fill(SENTINEL, Q.length);
  const q = shared.subarray(0, Q.length);
  expectFailure('INVALID_OPTION', () => exactAttention(q, K, V, GOOD_SHAPE, { ...OPTS, out: shared.subarray(Q.length - 1, Q.length - 1 + OUT_LENGTH) }));
  assert.equal(q, Q);
});

test('OUT_OF_MEMORY: a shape whose workspace passes 4 GiB is refused before any allocation', () => {
  // The kernel's tile scratch is 4·8·(d + dv + 8) bytes for one query and one key, so dim = 2^27 needs
  // 4 GiB + 288 bytes of scratch while q and k are 512 MiB each: they can be one zero-filled array
  // (untouched pages cost no RAM). Before the kernel computed its scratch size in 64 bits, this size
  // wrapped around to 288 bytes and the check passed; the kernel now saturates at 0xFFFFFFFF, which the
  // facade must read unsigned (`exact_scratch_bytes(...) >>> 0`; as a signed i32 it is −1 and the kernel
  // then writes past its workspace until it traps).
  const dim = 2 ** 27;
  const big = new Float32Array(dim);
  const before = memoryBytes();
  expectFailure('OUT_OF_MEMORY', (out) => exactAttention(big, big, new Float32Array(1), { queries: 1, keys: 1, dim, valueDim: 1 }, { out }), sentinelOut(1));
  assert.is(memoryBytes(), before);
  // the check itself, at its boundary
  checkWorkspaceBytes(2 ** 32);
  for (const bytes of [2 ** 32 + 1, 2 ** 40, NaN]) {
    try {
      checkWorkspaceBytes(bytes);
      assert.unreachable(`${bytes} bytes accepted`);
    } catch (error) {
      assert.is((error as PerformerError).code, 'OUT_OF_MEMORY');
    }
  }
});

test.run();
