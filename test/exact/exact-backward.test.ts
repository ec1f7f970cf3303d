import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import { exactAttention, exactAttentionBackward, memoryBytes, PerformerError, type AttentionShape, type ExactAttentionGradients,
         type PerformerErrorCode } from '../../src/index.ts';
import { checkWorkspaceBytes } from '../../src/runtime/heap.ts';
import { runtime } from '../../src/runtime/wasm.ts';
import { allFinite, relError } from '../support/data.ts';
import { throwsCode } from '../support/expect.ts';
import { describeCase, dimsOf, EXACT_CASES, makeProblem, type Case } from '../support/attention-cases.ts';
import { referenceAttention, type ReferenceOptions } from '../reference/attention.ts';
import { referenceAttentionGrad } from '../reference/attention-grad.ts';

// Tolerance against the float64 analytic gradient: the kernel rounds in float32 (unit roundoff 6e-8) through
// dot products of ≤ 128 terms, a 2^x with relative error ≤ 1e-7, and sums over ≤ 500 keys or queries formed
// per tile and then added tile by tile; dS = P·(dP − D) subtracts a weighted mean of dP from dP, which loses
// at most the digits that the spread of dP has below its size. The error seen is ≤ 1e-6, so 1e-5 (the package-
// wide accuracy target) leaves a margin, while a wrong mask, a missed rescale, a wrong D or a dropped tile
// gives errors of 1e-2 and more. Each of dq, dk, dv is checked on its own.
const TOL = 1e-5;


const NAMES = ['dq', 'dk', 'dv'] as const;

/** Per [b, h, query] row: the query sees no key; per [b, h, key] row: the key is masked (these gradients are exactly 0). */
function structuralZeros(c: Case, keyMask: Uint8Array | undefined) {
  const { batch, heads, Lq, Lk } = dimsOf(c.shape);
  const dqDead: boolean[] = [];
  const kMasked: boolean[] = [];
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < Lq; i++) {
        const last = c.causal ? Math.min(Lk - 1, i + Lk - Lq) : Lk - 1;
        let sees = false;
        for (let j = 0; j <= last && !sees; j++) sees = !keyMask || keyMask[b * Lk + j] !== 0;
        dqDead.push(!sees);
      }
      for (let j = 0; j < Lk; j++) kMasked.push(keyMask !== undefined && keyMask[b * Lk + j] === 0);
    }
  }
  return { dqDead, kMasked };
}

/** Largest relative error of dq, dk, dv; fails above tol. */
function compare(got: ExactAttentionGradients, want: Record<(typeof NAMES)[number], ArrayLike<number>>, tol: number, what: string): number {
  let worst = 0;
  for (const name of NAMES) {
    assert.ok(allFinite(got[name]), `${what}: non-finite ${name}`);
    const err = relError(got[name], want[name]);
    worst = Math.max(worst, err);
    assert.ok(err <= tol, `${what}: ${name} relative error ${err.toExponential(2)} > ${tol}`);
  }
  return worst;
}

// ---- finite differences of the float64 forward reference ----

/** Central differences of loss = ⟨dOut, referenceAttention(q, k, v)⟩ with respect to every entry of q, k, v. */
function finiteDifferences(q: Float32Array, k: Float32Array, v: Float32Array, dOut: Float32Array, shape: AttentionShape,
                           options: ReferenceOptions, h: number) {
  const x = { dq: Float64Array.from(q), dk: Float64Array.from(k), dv: Float64Array.from(v) };
  const loss = () => {
    const out = referenceAttention(x.dq, x.dk, x.dv, shape, options);
    let s = 0;
    for (let i = 0; i < out.length; i++) s += dOut[i] * out[i];
    return s;
  };
  const grad = { dq: new Float64Array(q.length), dk: new Float64Array(k.length), dv: new Float64Array(v.length) };
  for (const name of NAMES) {
    const a = x[name];
    for (let i = 0; i < a.length; i++) {
      const x0 = a[i];
      a[i] = x0 + h;
      const up = loss();
      a[i] = x0 - h;
      const down = loss();
      a[i] = x0;
      grad[name][i] = (up - down) / (2 * h);
    }
  }
  return grad;
}

// Finite differences in float64 with h = 1e-5 on inputs of size ~1: the truncation error is
// h²·|f'''|/6 ≈ 1e-11 and the cancellation error ε·|loss|/h ≈ 1e-11, so the differences are good to ~1e-9
// relative. The float64 analytic gradient must match them to 1e-7 (it does to ~1e-10: this validates the
// oracle itself); the wasm gradient to TOL = 1e-5, since its own float32 error (≤ 1e-6) dominates.
const FD_H = 1e-5;
const FD_CASES: Case[] = [
  { shape: { queries: 1, dim: 1 } },
  { shape: { queries: 3, keys: 5, dim: 3, valueDim: 2 } },
  { shape: { queries: 5, keys: 3, dim: 2, valueDim: 4 }, causal: true }, // queries 0, 1 see no key
  { shape: { queries: 4, keys: 6, dim: 3 }, causal: true },
  { shape: { batch: 2, heads: 2, queries: 4, keys: 5, dim: 3, valueDim: 2 }, masked: 0.4 },
  { shape: { batch: 2, heads: 1, queries: 5, keys: 5, dim: 2, valueDim: 3 }, masked: 0.3, causal: true, deadRows: [1] },
  { shape: { queries: 6, keys: 9, dim: 5, valueDim: 1 }, sigma: 2 },
];

test(`finite differences of the float64 forward: the float64 gradient to 1e-7, wasm to ${TOL} (${FD_CASES.length} shapes)`, () => {
  let worstRef = 0;
  let worstWasm = 0;
  FD_CASES.forEach((c, n) => {
    const { q, k, v, dOut, keyMask } = makeProblem(c, 900 + 10 * n);
    const options = { causal: c.causal, keyMask };
    const fd = finiteDifferences(q, k, v, dOut, c.shape, options, FD_H);
    const ref = referenceAttentionGrad(q, k, v, dOut, c.shape, options);
    for (const name of NAMES) {
      const err = relError(ref[name], fd[name]);
      worstRef = Math.max(worstRef, err);
      assert.ok(err <= 1e-7, `${describeCase(c)}: float64 ${name} vs finite differences ${err.toExponential(2)}`);
    }
    const got = exactAttentionBackward(q, k, v, dOut, c.shape, options);
    worstWasm = Math.max(worstWasm, compare(got, fd, TOL, describeCase(c)));
  });
  console.log(`    finite differences (h = ${FD_H}): float64 gradient within ${worstRef.toExponential(2)}, wasm within ${worstWasm.toExponential(2)}`);
});

// ---- against the float64 analytic gradient ----

const CASES = EXACT_CASES;

test(`matches the float64 gradient on ${CASES.length} shapes (relative Frobenius error of each of dq, dk, dv ≤ ${TOL})`, () => {
  let worst = 0;
  CASES.forEach((c, n) => {
    const { q, k, v, dOut, keyMask } = makeProblem(c, 100 + 10 * n);
    const options = { causal: c.causal, keyMask };
    const got = exactAttentionBackward(q, k, v, dOut, c.shape, options);
    const want = referenceAttentionGrad(q, k, v, dOut, c.shape, options);
    worst = Math.max(worst, compare(got, want, TOL, describeCase(c)));
    // masked keys and queries that see no key get exact zeros
    const { dqDead, kMasked } = structuralZeros(c, keyMask);
    const { d, dv } = dimsOf(c.shape);
    const zeroRows = (a: Float32Array, rows: boolean[], width: number, name: string) => {
      rows.forEach((dead, r) => {
        if (!dead) return;
        for (let t = 0; t < width; t++) if (a[r * width + t] !== 0) assert.unreachable(`${describeCase(c)}: ${name}[${r * width + t}] = ${a[r * width + t]}, want exactly 0`);
      });
    };
    zeroRows(got.dq, dqDead, d, 'dq');
    zeroRows(got.dk, kMasked, d, 'dk');
    zeroRows(got.dv, kMasked, dv, 'dv');
  });
  console.log(`    backward vs float64: worst relative error ${worst.toExponential(2)} over ${CASES.length} shapes`);
});

test('large logits (q, k entries ~ N(0, 5²)) stay finite and accurate', () => {
  // As in the forward test: float32 scores carry absolute errors of ~|s|·2^-24·√d, which become relative
  // errors of the weights, so 1e-4 is the honest bound in this regime.
  const cases: Case[] = [
    { shape: { queries: 100, dim: 16 }, sigma: 5 },
    { shape: { batch: 2, heads: 2, queries: 70, keys: 150, dim: 32, valueDim: 8 }, sigma: 5, masked: 0.3, causal: true },
  ];
  cases.forEach((c, n) => {
    const { q, k, v, dOut, keyMask } = makeProblem(c, 500 + 10 * n);
    const options = { causal: c.causal, keyMask };
    const got = exactAttentionBackward(q, k, v, dOut, c.shape, options);
    compare(got, referenceAttentionGrad(q, k, v, dOut, c.shape, options), 1e-4, describeCase(c));
  });
});

test('masked keys get zero dk and dv; a fully masked batch row and queries before every key give zeros', () => {
  const shape = { batch: 2, heads: 2, queries: 10, keys: 6, dim: 4, valueDim: 3 };
  const { q, k, v, dOut } = makeProblem({ shape }, 7);
  const keyMask = new Uint8Array(12).fill(1);
  keyMask.fill(0, 0, 6); // batch 0: every key masked
  keyMask[6 + 2] = 0; // batch 1: key 2 masked
  const g = exactAttentionBackward(q, k, v, dOut, shape, { causal: true, keyMask });
  for (let i = 0; i < 2 * 10 * 4; i++) assert.is(g.dq[i], 0);
  for (let i = 0; i < 2 * 6 * 4; i++) assert.is(g.dk[i], 0);
  for (let i = 0; i < 2 * 6 * 3; i++) assert.is(g.dv[i], 0);
  for (let h = 0; h < 2; h++) {
    const head = 2 + h;
    // causal with Lq > Lk: query i sees keys j ≤ i − 4, so queries 0..3 see none
    for (let i = 0; i < 4 * 4; i++) assert.is(g.dq[head * 40 + i], 0);
    for (let t = 0; t < 4; t++) assert.is(g.dk[head * 24 + 2 * 4 + t], 0);
    for (let c = 0; c < 3; c++) assert.is(g.dv[head * 18 + 2 * 3 + c], 0);
  }
});

test('causal: gradients of keys and values past every query that sees them are zero, and earlier ones unchanged', () => {
  // only queries ≥ 60 see keys ≥ 60, so changing dOut of queries < 60 leaves dk, dv of keys ≥ 60 as they were
  const shape = { queries: 100, dim: 8 };
  const { q, k, v, dOut } = makeProblem({ shape }, 31);
  const a = exactAttentionBackward(q, k, v, dOut, shape, { causal: true });
  const dOut2 = dOut.slice();
  for (let i = 0; i < 60 * 8; i++) dOut2[i] = 3 * Math.sin(i);
  const b = exactAttentionBackward(q, k, v, dOut2, shape, { causal: true });
  for (let i = 60 * 8; i < 100 * 8; i++) {
    assert.is(b.dk[i], a.dk[i]);
    assert.is(b.dv[i], a.dv[i]);
    assert.is(b.dq[i], a.dq[i]);
  }
  assert.ok(b.dk[0] !== a.dk[0]);
});

test('the forward it recomputes is the forward of exactAttention: dv = Pᵀ·dOut sums to Σ dOut when no key is masked', () => {
  // each row of P sums to 1, so Σ_j dv_j = Σ_i dOut_i (per value column)
  const shape = { queries: 50, keys: 70, dim: 16, valueDim: 5 };
  const { q, k, v, dOut } = makeProblem({ shape }, 51);
  const g = exactAttentionBackward(q, k, v, dOut, shape);
  for (let c = 0; c < 5; c++) {
    let got = 0;
    let want = 0;
    for (let j = 0; j < 70; j++) got += g.dv[j * 5 + c];
    for (let i = 0; i < 50; i++) want += dOut[i * 5 + c];
    assert.ok(Math.abs(got - want) <= 1e-5 * (1 + Math.abs(want)), `column ${c}: ${got} vs ${want}`);
  }
  // and out itself agrees with exactAttention (D = dOut·out is computed from it)
  const out = exactAttention(q, k, v, shape);
  assert.ok(relError(out, referenceAttention(q, k, v, shape)) <= TOL);
});

test('the out option is filled, returned, and overwritten rather than accumulated', () => {
  const shape = { batch: 2, heads: 1, queries: 5, keys: 9, dim: 3, valueDim: 2 };
  const { q, k, v, dOut } = makeProblem({ shape }, 41);
  const out = { dq: new Float32Array(30).fill(123), dk: new Float32Array(54).fill(-5), dv: new Float32Array(36).fill(7) };
  const got = exactAttentionBackward(q, k, v, dOut, shape, { out });
  assert.is(got, out);
  compare(out, referenceAttentionGrad(q, k, v, dOut, shape), TOL, 'out option');
});

test('L = 4096, d = 16: O(L) memory, sampled against the float64 gradient', () => {
  // The reference costs O(L²·d) in JS, so check dq on sampled rows only and dk, dv through the causal
  // structure of a problem whose last 16 keys are seen by the last 16 queries only.
  const L = 4096;
  const d = 16;
  const shape = { queries: L, dim: d };
  const { q, k, v, dOut } = makeProblem({ shape }, 61);
  const t0 = performance.now();
  const g = exactAttentionBackward(q, k, v, dOut, shape);
  const ms = performance.now() - t0;
  assert.ok(allFinite(g.dq) && allFinite(g.dk) && allFinite(g.dv));
  // dq of one query depends on every key; the full reference on a sub-problem of that query alone
  let worst = 0;
  for (const i of [0, 63, 64, 2047, L - 1]) {
    const sub = { queries: 1, keys: L, dim: d };
    const want = referenceAttentionGrad(q.subarray(i * d, (i + 1) * d), k, v, dOut.subarray(i * d, (i + 1) * d), sub);
    const err = relError(g.dq.subarray(i * d, (i + 1) * d), want.dq);
    worst = Math.max(worst, err);
    assert.ok(err <= TOL, `dq row ${i}: ${err.toExponential(2)}`);
  }
  console.log(`    L=${L}, d=${d}: backward ${ms.toFixed(0)} ms, sampled dq rows within ${worst.toExponential(2)}`);
});

test('scratch is O(L): linear in Lq and Lk, and saturates instead of wrapping past 4 GiB', () => {
  const bytes = (Lq: number, Lk: number, d: number, dv: number) => runtime().exports.exact_backward_scratch_bytes(Lq, Lk, d, dv) >>> 0;
  for (const [d, dv] of [[64, 64], [16, 40], [1, 1]]) {
    const a = bytes(4096, 4096, d, dv);
    const b = bytes(8192, 8192, d, dv);
    assert.ok(b <= 2 * a + 64 * 1024, `d=${d}: ${a} → ${b} bytes when L doubles`);
    assert.ok(b < 4 * 8192 * (d + dv + 8) + 256 * 1024, `d=${d}: ${b} bytes at L = 8192`);
  }
  assert.is(bytes(1, 1, 2 ** 28, 1), 0xffffffff);
  assert.is(bytes(0, 5, 3, 3), 0);
});

test('OUT_OF_MEMORY: a shape whose workspace passes 4 GiB is refused before any allocation', () => {
  // dim = 2^27: q and k are 512 MiB each (one zero-filled array: untouched pages cost no RAM), and the
  // workspace (q, k, dq, dk and the packed Kᵀ) is past 4 GiB
  const dim = 2 ** 27;
  const big = new Float32Array(dim);
  const one = new Float32Array(1);
  const before = memoryBytes();
  let code = '';
  try {
    exactAttentionBackward(big, big, one, one, { queries: 1, keys: 1, dim, valueDim: 1 });
  } catch (error) {
    code = (error as PerformerError).code;
  }
  assert.is(code, 'OUT_OF_MEMORY');
  assert.is(memoryBytes(), before);
  checkWorkspaceBytes(2 ** 32);
});

// ---- bad inputs: each throws its code before any work, leaves out untouched, and the next call works ----

const SENTINEL = -777.25;
const GOOD_SHAPE = { batch: 2, heads: 2, queries: 9, keys: 11, dim: 5, valueDim: 3 };
const GOOD = makeProblem({ shape: GOOD_SHAPE, masked: 0.3 }, 71);
const GOOD_OPTIONS: ReferenceOptions = { causal: true, keyMask: GOOD.keyMask };
const GOOD_WANT = referenceAttentionGrad(GOOD.q, GOOD.k, GOOD.v, GOOD.dOut, GOOD_SHAPE, GOOD_OPTIONS);
const LEN = { dq: 2 * 2 * 9 * 5, dk: 2 * 2 * 11 * 5, dv: 2 * 2 * 11 * 3 };

function sentinelOut(delta: Partial<Record<(typeof NAMES)[number], number>> = {}): ExactAttentionGradients {
  return {
    dq: new Float32Array(LEN.dq + (delta.dq ?? 0)).fill(SENTINEL),
    dk: new Float32Array(LEN.dk + (delta.dk ?? 0)).fill(SENTINEL),
    dv: new Float32Array(LEN.dv + (delta.dv ?? 0)).fill(SENTINEL),
  };
}

/** Runs `call`, expects a PerformerError with `code`, checks `out` is untouched, then checks a valid call. */
function expectFailure(code: PerformerErrorCode, call: (out: ExactAttentionGradients) => unknown, out = sentinelOut()): void {
  throwsCode(() => call(out), code);
  for (const name of NAMES) {
    const a = out[name];
    for (let i = 0; i < a.length; i++) if (a[i] !== SENTINEL) assert.unreachable(`out.${name}[${i}] was written: ${a[i]}`);
  }
  const after = exactAttentionBackward(GOOD.q, GOOD.k, GOOD.v, GOOD.dOut, GOOD_SHAPE, { ...GOOD_OPTIONS, out: sentinelOut() });
  compare(after, GOOD_WANT, TOL, 'the valid call after the error');
}

const { q: Q, k: K, v: V, dOut: G, keyMask: MASK } = GOOD;
const OPTS = GOOD_OPTIONS;
const back = exactAttentionBackward;

test('INVALID_LENGTH: q, k, v, dOut, each out buffer and keyMask of the wrong length', () => {
  expectFailure('INVALID_LENGTH', (out) => back(Q.subarray(1), K, V, G, GOOD_SHAPE, { ...OPTS, out }));
  expectFailure('INVALID_LENGTH', (out) => back(Q, new Float32Array(K.length + 5), V, G, GOOD_SHAPE, { ...OPTS, out }));
  expectFailure('INVALID_LENGTH', (out) => back(Q, K, V.subarray(0, V.length - 3), G, GOOD_SHAPE, { ...OPTS, out }));
  expectFailure('INVALID_LENGTH', (out) => back(Q, K, V, G.subarray(1), GOOD_SHAPE, { ...OPTS, out }));
  expectFailure('INVALID_LENGTH', (out) => back(Q, K, V, new Float32Array(Q.length), GOOD_SHAPE, { ...OPTS, out })); // dOut of q's length
  for (const name of NAMES) {
    for (const delta of [-1, 1]) {
      expectFailure('INVALID_LENGTH', (out) => back(Q, K, V, G, GOOD_SHAPE, { ...OPTS, out }), sentinelOut({ [name]: delta }));
    }
  }
  // dk and dv swapped (their lengths differ)
  expectFailure('INVALID_LENGTH', (out) => back(Q, K, V, G, GOOD_SHAPE, { ...OPTS, out: { dq: out.dq, dk: out.dv, dv: out.dk } }));
  expectFailure('INVALID_LENGTH', (out) => back(Q, K, V, G, GOOD_SHAPE, { causal: true, keyMask: MASK!.subarray(1), out }));
  expectFailure('INVALID_LENGTH', (out) => back(Q, K, V, G, { ...GOOD_SHAPE, keys: 10 }, { ...OPTS, out }));
});

test('INVALID_TYPE: non-Float32Array inputs or out buffers, out or options not objects, a missing out buffer', () => {
  expectFailure('INVALID_TYPE', (out) => back(Array.from(Q) as unknown as Float32Array, K, V, G, GOOD_SHAPE, { ...OPTS, out }));
  expectFailure('INVALID_TYPE', (out) => back(Q, K, V, Float64Array.from(G) as unknown as Float32Array, GOOD_SHAPE, { ...OPTS, out }));
  expectFailure('INVALID_TYPE', (out) => back(Q, K, V, G, GOOD_SHAPE, { causal: true, keyMask: Int8Array.from(MASK!) as unknown as Uint8Array, out }));
  expectFailure('INVALID_TYPE', (out) => back(Q, K, V, G, GOOD_SHAPE, { ...OPTS, out: { ...out, dk: Array.from(out.dk) as unknown as Float32Array } }));
  expectFailure('INVALID_TYPE', (out) => back(Q, K, V, G, GOOD_SHAPE, { ...OPTS, out: { dq: out.dq, dk: out.dk } as never }));
  expectFailure('INVALID_TYPE', () => back(Q, K, V, G, GOOD_SHAPE, { ...OPTS, out: new Float32Array(LEN.dq) as never }));
  expectFailure('INVALID_TYPE', () => back(Q, K, V, G, GOOD_SHAPE, { ...OPTS, out: null as never }));
  expectFailure('INVALID_TYPE', () => back(Q, K, V, G, GOOD_SHAPE, 'causal' as never));
});

test('INVALID_SIZE: zero, negative, fractional, NaN and non-number sizes', () => {
  const bad: Record<string, unknown>[] = [
    { queries: 0 }, { keys: 0 }, { dim: -5 }, { valueDim: -3 }, { batch: 1.5 }, { heads: 0.5 }, { queries: NaN },
    { dim: Infinity }, { keys: '11' },
  ];
  for (const patch of bad) {
    expectFailure('INVALID_SIZE', (out) => back(Q, K, V, G, { ...GOOD_SHAPE, ...patch } as AttentionShape, { ...OPTS, out }));
  }
});

test('NON_FINITE: NaN or ±Infinity anywhere in q, k, v or dOut', () => {
  const cases: [string, number, number][] = [
    ['q', 0, NaN], ['k', K.length - 1, -Infinity], ['v', 40, NaN], ['dOut', 0, NaN], ['dOut', G.length - 1, Infinity], ['dOut', 50, -Infinity],
  ];
  for (const [name, at, value] of cases) {
    const bad = { q: Q.slice(), k: K.slice(), v: V.slice(), dOut: G.slice() };
    bad[name as 'q' | 'k' | 'v' | 'dOut'][at] = value;
    expectFailure('NON_FINITE', (out) => back(bad.q, bad.k, bad.v, bad.dOut, GOOD_SHAPE, { ...OPTS, out }));
  }
});

test('UNKNOWN_OPTION and INVALID_OPTION: unknown keys, causal not a boolean, out buffers sharing memory', () => {
  expectFailure('UNKNOWN_OPTION', (out) => back(Q, K, V, G, GOOD_SHAPE, { ...OPTS, out, casual: true } as never));
  expectFailure('UNKNOWN_OPTION', (out) => back(Q, K, V, G, GOOD_SHAPE, { ...OPTS, out: { ...out, dO: out.dq } as never }));
  expectFailure('UNKNOWN_OPTION', (out) => back(Q, K, V, G, { ...GOOD_SHAPE, seqLen: 9 } as never, { ...OPTS, out }));
  for (const causal of [1, 'true', null]) {
    expectFailure('INVALID_OPTION', (out) => back(Q, K, V, G, GOOD_SHAPE, { causal: causal as never, keyMask: MASK, out }));
  }
  // an out buffer overlapping dOut (dOut must stay untouched as well), and two out buffers overlapping each other
  const shared = new Float32Array(G.length + LEN.dq);
  shared.set(G);
  shared.fill(SENTINEL, G.length);
  const g = shared.subarray(0, G.length);
  expectFailure('INVALID_OPTION', (out) => back(Q, K, V, g, GOOD_SHAPE, { ...OPTS, out: { ...out, dq: shared.subarray(G.length - 1, G.length - 1 + LEN.dq) } }));
  assert.equal(g, G);
  const both = new Float32Array(LEN.dk + LEN.dv).fill(SENTINEL);
  expectFailure('INVALID_OPTION', (out) => back(Q, K, V, G, GOOD_SHAPE, { ...OPTS, out: { dq: out.dq, dk: both.subarray(0, LEN.dk), dv: both.subarray(1, 1 + LEN.dv) } }));
  for (let i = 0; i < both.length; i++) if (both[i] !== SENTINEL) assert.unreachable(`shared out buffer written at ${i}`);
});

test.run();
