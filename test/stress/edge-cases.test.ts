// Numerical stress: extreme norms (1e-20 … 1e4), subnormal inputs, identical keys, one-hot rows, large
// negative logits, one key, m = 1, d = 1, values near the float32 limit, and fully masked keys, through
// every kernel (bidirectional, causal, decoder) and exactAttention. Outputs are finite everywhere; where
// the answer is known in closed form (uniform attention → mean(V), one key → its value, no key → 0) it
// is checked to the package's 1e-5. docs/numerics.md ("Edge cases") states these behaviours.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import { exactAttention, FavorAttention, type KernelName } from '../../src/index.ts';
import { KERNEL_NAMES } from '../../src/feature-maps/kernels.ts';
import { allFinite, randn, relError } from '../support/data.ts';
import { favorCausalReference, favorReference } from '../reference/favor.ts';
import { referenceAttention } from '../reference/attention.ts';

const TOL = 1e-5;
const B = 2; // batch·heads = 2·1
const shape = (queries: number, keys: number, dim: number, valueDim = 3) => ({ batch: 2, heads: 1, queries, keys, dim, valueDim });

/** Rows of the mean of v over keys 0..last (per batch row): the output of uniform attention. */
function meanRows(v: Float32Array, Lq: number, Lk: number, dv: number, causal: boolean): Float64Array {
  const out = new Float64Array(B * Lq * dv);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < Lq; i++) {
      const last = causal ? i + Lk - Lq : Lk - 1;
      if (last < 0) continue;
      for (let c = 0; c < dv; c++) {
        let s = 0;
        for (let j = 0; j <= last; j++) s += v[(b * Lk + j) * dv + c];
        out[(b * Lq + i) * dv + c] = s / (last + 1);
      }
    }
  }
  return out;
}

function scaled(x: Float32Array, norm: number, dim: number): Float32Array {
  // every row rescaled to exactly this norm (computed in float64; tiny norms stay normal or subnormal floats)
  const y = new Float32Array(x.length);
  for (let r = 0; r < x.length / dim; r++) {
    let n = 0;
    for (let t = 0; t < dim; t++) n += x[r * dim + t] ** 2;
    for (let t = 0; t < dim; t++) y[r * dim + t] = (x[r * dim + t] / Math.sqrt(n)) * norm;
  }
  return y;
}

/** Runs every path: forward (bidirectional and causal), decoder steps, exactAttention. */
function everyPath(kernel: KernelName, q: Float32Array, k: Float32Array, v: Float32Array, L: number, dim: number, dv: number,
                   features = 8, seed = 3) {
  const s = shape(L, L, dim, dv);
  const bi = new FavorAttention({ dim, features, kernel, seed });
  const ca = new FavorAttention({ dim, features, kernel, seed, causal: true, chunkSize: 4 });
  const dec = ca.decoder({ batch: 2, valueDim: dv });
  const stepped = new Float32Array(B * L * dv);
  for (let t = 0; t < L; t++) {
    const row = (x: Float32Array, w: number) => Float32Array.from({ length: B * w }, (_, i) => x[(Math.floor(i / w) * L + t) * w + (i % w)]);
    const o = dec.step(row(q, dim), row(k, dim), row(v, dv));
    for (let b = 0; b < B; b++) stepped.set(o.subarray(b * dv, (b + 1) * dv), (b * L + t) * dv);
  }
  return {
    bi: bi.forward(q, k, v, s), causal: ca.forward(q, k, v, s), stepped,
    exact: exactAttention(q, k, v, s), exactCausal: exactAttention(q, k, v, s, { causal: true }), w: bi.projection,
  };
}

test('norms 1e-20 … 1e-3 and subnormal inputs: the float64 estimator, and mean(V) (uniform attention) in the limit', () => {
  const [L, dim, dv] = [9, 6, 3];
  const v = randn(B * L * dv, 3);
  for (const norm of [1e-20, 1e-10, 1e-6, 1e-3, 'subnormal'] as const) {
    const make = (seed: number) => norm === 'subnormal'
      ? randn(B * L * dim, seed).map((x) => x * 1e-39) // every entry subnormal (|x| < 1.18e-38) or 0
      : scaled(randn(B * L * dim, seed), norm, dim);
    const q = make(1);
    const k = make(2);
    if (norm === 'subnormal') assert.ok(q.some((x) => x !== 0 && Math.abs(x) < 1.1754944e-38), 'subnormal entries present');
    const s = shape(L, L, dim, dv);
    for (const kernel of KERNEL_NAMES) {
      const r = everyPath(kernel, q, k, v, L, dim, dv);
      const cfg = { kernel, dim, w: r.w };
      const bi = favorReference(cfg, q, k, v, s);
      const ca = favorCausalReference(cfg, q, k, v, s);
      for (const [path, out, causal, ref] of [['forward', r.bi, false, bi], ['causal', r.causal, true, ca], ['decoder', r.stepped, true, ca],
                                              ['exact', r.exact, false, null], ['exact causal', r.exactCausal, true, null]] as const) {
        assert.ok(allFinite(out), `${kernel} ${path} norm ${norm}: not finite`);
        if (ref) assert.ok(relError(out, ref) <= TOL, `${kernel} ${path} norm ${norm}: ${relError(out, ref).toExponential(2)} from float64`);
        // FAVOR+ is uniform only in the limit: the random features deviate by O(|Wx̂|) (softmax kernels) or
        // f(Wx)/ε (generalized, φ = f(Wx)/√m + ε), so mean(V) to 1e-5 from ‖x‖ ≲ 1e-8 on; exact: always
        if (!ref || norm === 'subnormal' || norm <= 1e-10) {
          const err = relError(out, meanRows(v, L, L, dv, causal));
          assert.ok(err <= TOL, `${kernel} ${path} norm ${norm}: ${err.toExponential(2)} from mean(V)`);
        }
      }
    }
  }
});

test('norms up to 1e4 (logits up to ±1e8): finite everywhere; exactAttention still matches float64', () => {
  const [L, dim, dv] = [12, 4, 3];
  const v = randn(B * L * dv, 3);
  for (const norm of [10, 1e2, 1e3, 1e4]) {
    const q = scaled(randn(B * L * dim, 1), norm, dim);
    const k = scaled(randn(B * L * dim, 2), norm, dim);
    for (const kernel of KERNEL_NAMES) {
      const r = everyPath(kernel, q, k, v, L, dim, dv);
      for (const [path, out] of Object.entries(r)) {
        if (path !== 'w') assert.ok(allFinite(out), `${kernel} ${path} norm ${norm}: not finite`);
      }
      // each output row is a convex combination of value rows (positive kernels), so bounded by max |v|
      const vmax = Math.max(...v.map(Math.abs));
      if (['softmax', 'softmax-hyperbolic', 'softmax-hyperbolic-normalized', 'relu', 'elu1', 'exp', 'abs'].includes(kernel)) {
        for (const out of [r.bi, r.causal, r.stepped]) assert.ok(out.every((x) => Math.abs(x) <= vmax * (1 + 1e-5)), `${kernel} norm ${norm}: not a convex combination`);
      }
    }
    const s = shape(L, L, dim, dv);
    for (const causal of [false, true]) {
      const err = relError(exactAttention(q, k, v, s, { causal }), referenceAttention(q, k, v, s, { causal }));
      assert.ok(err <= TOL, `exact norm ${norm}: ${err.toExponential(2)}`);
    }
  }
});

test('large negative logits: exact attention picks the one key that is not pushed away; FAVOR+ is finite', () => {
  // q = e0·100; keys −e0·100 (logit −5000) except key 4, +e0 (logit +50): softmax puts all weight on key 4
  const [L, dim, dv] = [8, 4, 2];
  const q = new Float32Array(B * L * dim);
  const k = new Float32Array(B * L * dim);
  for (let r = 0; r < B * L; r++) {
    q[r * dim] = 100;
    k[r * dim] = r % L === 4 ? 1 : -100;
  }
  const v = randn(B * L * dv, 3);
  const s = shape(L, L, dim, dv);
  const out = exactAttention(q, k, v, s);
  for (let b = 0; b < B; b++) for (let i = 0; i < L; i++) for (let c = 0; c < dv; c++) {
    assert.ok(Math.abs(out[(b * L + i) * dv + c] - v[(b * L + 4) * dv + c]) <= 1e-6, 'all weight on key 4');
  }
  // causal: queries before key 4 see only logits of −5000: a softmax over those (uniform), not NaN
  const causal = exactAttention(q, k, v, s, { causal: true });
  assert.ok(allFinite(causal));
  assert.ok(relError(causal, referenceAttention(q, k, v, s, { causal: true })) <= TOL);
  for (const kernel of KERNEL_NAMES) {
    const r = everyPath(kernel, q, k, v, L, dim, dv);
    for (const [path, o] of Object.entries(r)) if (path !== 'w') assert.ok(allFinite(o), `${kernel} ${path}: not finite`);
  }
});

test('identical keys: every query gets mean(V) (causal: the running mean), every kernel and path', () => {
  const [L, dim, dv] = [10, 5, 4];
  const key = randn(dim, 7, 0.5);
  const k = new Float32Array(B * L * dim).map((_, i) => key[i % dim]);
  const q = randn(B * L * dim, 1, 0.5);
  const v = randn(B * L * dv, 3);
  for (const kernel of KERNEL_NAMES) {
    const r = everyPath(kernel, kernel === 'softmax-trig' ? q.map((x) => x * 0.3) : q, k, v, L, dim, dv);
    for (const [path, out, causal] of [['forward', r.bi, false], ['causal', r.causal, true], ['decoder', r.stepped, true],
                                       ['exact', r.exact, false], ['exact causal', r.exactCausal, true]] as const) {
      const err = relError(out, meanRows(v, L, L, dv, causal));
      assert.ok(err <= TOL, `${kernel} ${path}: ${err.toExponential(2)} from mean(V)`);
    }
  }
});

test('one-hot rows, m = 1, d = 1: against the float64 references', () => {
  const [L, dim, dv] = [7, 5, 3];
  const hot = (seed: number, scale: number) => Float32Array.from({ length: B * L * dim }, (_, i) => ((Math.floor(i / dim) * 3 + seed) % dim === i % dim ? scale : 0));
  const v = randn(B * L * dv, 3);
  const cases: [string, Float32Array, Float32Array, number, number][] = [
    ['one-hot', hot(1, 1), hot(2, 1), dim, 6],
    ['one-hot ×3', hot(0, 3), hot(0, 3), dim, 6],
    ['m = 1', randn(B * L * dim, 1, 0.5), randn(B * L * dim, 2, 0.5), dim, 1],
    ['d = 1', randn(B * L, 1, 0.5), randn(B * L, 2, 0.5), 1, 4],
    ['d = 1, m = 1', randn(B * L, 1, 0.5), randn(B * L, 2, 0.5), 1, 1],
  ];
  for (const [name, q, k, d, m] of cases) {
    const s = shape(L, L, d, dv);
    for (const kernel of KERNEL_NAMES) {
      if (kernel === 'softmax-trig' || kernel === 'gelu') continue; // features of both signs: see test/favor/favor.test.ts
      const r = everyPath(kernel, q, k, v, L, d, dv, m);
      const cfg = { kernel, dim: d, w: r.w };
      const bi = relError(r.bi, favorReference(cfg, q, k, v, s));
      const ca = relError(r.causal, favorCausalReference(cfg, q, k, v, s));
      const st = relError(r.stepped, favorCausalReference(cfg, q, k, v, s));
      assert.ok(Math.max(bi, ca, st) <= TOL, `${name} ${kernel}: ${bi.toExponential(2)} ${ca.toExponential(2)} ${st.toExponential(2)}`);
    }
    assert.ok(relError(exactAttention(q, k, v, s), referenceAttention(q, k, v, s)) <= TOL, `${name} exact`);
  }
});

test('one key: every query gets that value (bidirectional, causal with a key cache of one, exact)', () => {
  const [Lq, dim, dv] = [6, 4, 3];
  const q = randn(B * Lq * dim, 1, 0.5);
  const k = randn(B * dim, 2, 0.5);
  const v = randn(B * dv, 3);
  const s = shape(Lq, 1, dim, dv);
  const want = Float64Array.from({ length: B * Lq * dv }, (_, i) => v[Math.floor(i / (Lq * dv)) * dv + (i % dv)]);
  for (const kernel of KERNEL_NAMES) {
    const out = new FavorAttention({ dim, features: 8, kernel, seed: 1 }).forward(kernel === 'softmax-trig' ? q.map((x) => x * 0.3) : q, k, v, s);
    assert.ok(relError(out, want) <= TOL, `${kernel}: ${relError(out, want).toExponential(2)}`);
    // causal, one key, Lq = 6 queries: aligned at the end, so only the last query sees it; the others get 0
    const causal = new FavorAttention({ dim, features: 8, kernel, seed: 1, causal: true }).forward(q, k, v, s);
    for (let b = 0; b < B; b++) for (let i = 0; i < Lq; i++) for (let c = 0; c < dv; c++) {
      const got = causal[(b * Lq + i) * dv + c];
      if (i < Lq - 1) assert.is(got, 0, `${kernel} causal: query ${i} sees no key`);
      else assert.ok(Math.abs(got - v[b * dv + c]) <= 1e-5 * Math.abs(v[b * dv + c]) + 1e-7, `${kernel} causal: the last query`);
    }
  }
  assert.ok(relError(exactAttention(q, k, v, s), want) <= TOL);
});

test('all keys masked: zero rows for every kernel, bidirectional and causal, and exactAttention', () => {
  const [L, dim, dv] = [7, 4, 3];
  const q = randn(B * L * dim, 1, 0.5);
  const k = randn(B * L * dim, 2, 0.5);
  const v = randn(B * L * dv, 3);
  const s = shape(L, L, dim, dv);
  const keyMask = new Uint8Array(B * L).fill(1).fill(0, 0, L); // batch row 0: every key masked
  const check = (out: Float32Array, what: string) => {
    assert.ok(allFinite(out), what);
    assert.ok(out.subarray(0, L * dv).every((x) => x === 0), `${what}: batch row 0 is not zeros`);
    assert.ok(out.subarray(L * dv).some((x) => x !== 0), `${what}: batch row 1 is zeros`);
  };
  for (const kernel of KERNEL_NAMES) {
    for (const causal of [false, true]) check(new FavorAttention({ dim, features: 8, kernel, causal }).forward(q, k, v, s, { keyMask }), `${kernel} causal=${causal}`);
  }
  for (const causal of [false, true]) check(exactAttention(q, k, v, s, { causal, keyMask }), `exact causal=${causal}`);
  // every key of every row masked
  const none = new Uint8Array(B * L);
  assert.ok(new FavorAttention({ dim, features: 8 }).forward(q, k, v, s, { keyMask: none }).every((x) => x === 0));
  assert.ok(exactAttention(q, k, v, s, { keyMask: none }).every((x) => x === 0));
});

test('values up to the float32 limit (3e38) with 1000 keys: finite and accurate (values are rescaled; see docs/numerics.md)', () => {
  const [L, dim, dv] = [1000, 4, 2];
  const q = randn(L * dim, 1, 0.5);
  const k = randn(L * dim, 2, 0.5);
  const v = randn(L * dv, 3).map((x) => Math.max(-3e38, Math.min(3e38, x * 1e38)));
  const s = { queries: L, dim, valueDim: dv };
  for (const kernel of ['softmax', 'softmax-hyperbolic', 'softmax-hyperbolic-normalized', 'relu', 'elu1', 'exp', 'abs'] as const) {
    for (const causal of [false, true]) {
      const attn = new FavorAttention({ dim, features: 8, kernel, causal, seed: 2 });
      const out = attn.forward(q, k, v, s);
      assert.ok(allFinite(out), `${kernel} causal=${causal}`);
      const ref = (causal ? favorCausalReference : favorReference)({ kernel, dim, w: attn.projection }, q, k, v, { batch: 1, heads: 1, queries: L, keys: L, dim, valueDim: dv });
      assert.ok(relError(out, ref) <= TOL, `${kernel} causal=${causal}: ${relError(out, ref).toExponential(2)}`);
    }
  }
  for (const causal of [false, true]) {
    const out = exactAttention(q, k, v, s, { causal });
    assert.ok(allFinite(out) && relError(out, referenceAttention(q, k, v, s, { causal })) <= TOL, `exact causal=${causal}`);
  }
  // the mixed-sign kernels may extrapolate past max|v|: clamped to the float32 range, never NaN
  for (const kernel of ['softmax-trig', 'gelu'] as const) {
    for (const causal of [false, true]) {
      assert.ok(allFinite(new FavorAttention({ dim, features: 8, kernel, causal, seed: 2 }).forward(q, k, v, s)), kernel);
    }
  }
});

test.run();
