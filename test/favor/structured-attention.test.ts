// projection: 'structured' through every pass that projects: bidirectional, causal, decoder (steps and
// prefill, saved states), the thread pool, and backward, each against the float64 reference evaluated
// with the materialized matrix (attn.projection); redraw and the option checks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import { FavorAttention, init, initSync, type KernelName } from '../../src/index.ts';
import '../../src/threads/index.ts'; // the thread pool is opt-in
import { allFinite, attentionInputs, relError } from '../support/data.ts';
import { throwsCode } from '../support/expect.ts';
import { favorCausalReference, favorReference, type Shape } from '../reference/favor.ts';
import { favorGradQuadratic } from '../reference/favor-grad.ts';
import { drawProjection } from '../../src/projection/projection.ts';

// float32 through the transform (≈ 1e-7 per u, structured.test.ts) and the passes: as test/favor/favor.test.ts
const FIDELITY = 1e-5;

interface Case { shape: Shape; features: number; kernel: KernelName; chunkSize: number; masked?: boolean }

const CASES: Case[] = [
  { shape: { batch: 1, heads: 1, queries: 1, keys: 1, dim: 16, valueDim: 16 }, features: 16, kernel: 'softmax', chunkSize: 64 },
  { shape: { batch: 2, heads: 2, queries: 37, keys: 53, dim: 32, valueDim: 7 }, features: 70, kernel: 'softmax', chunkSize: 16, masked: true },
  { shape: { batch: 1, heads: 1, queries: 130, keys: 130, dim: 64, valueDim: 64 }, features: 256, kernel: 'softmax-hyperbolic', chunkSize: 64 },
  { shape: { batch: 1, heads: 2, queries: 65, keys: 40, dim: 128, valueDim: 9 }, features: 130, kernel: 'softmax', chunkSize: 32 },
  { shape: { batch: 1, heads: 1, queries: 50, keys: 50, dim: 64, valueDim: 5 }, features: 40, kernel: 'relu', chunkSize: 16 }, // m < d: the GEMM on W
  { shape: { batch: 1, heads: 1, queries: 20, keys: 30, dim: 8, valueDim: 3 }, features: 12, kernel: 'softmax', chunkSize: 8 },   // d < 16: the GEMM on W
];

const mask = (s: Shape) => new Uint8Array(s.batch * s.keys).map((_, i) => (i % 5 === 2 ? 0 : 1));

function instance(c: Case, causal: boolean, seed = 3): FavorAttention {
  return new FavorAttention({ dim: c.shape.dim, features: c.features, kernel: c.kernel, projection: 'structured', seed, causal, chunkSize: c.chunkSize });
}

test('forward, bidirectional and causal: against float64 with the materialized W (≤ 1e-5)', () => {
  CASES.forEach((c, n) => {
    for (const causal of [false, true]) {
      const s = causal ? { ...c.shape, keys: c.shape.queries } : c.shape;
      const { q, k, v } = attentionInputs(s, 10 + n);
      const keyMask = c.masked ? mask(s) : undefined;
      const attn = instance(c, causal);
      const out = attn.forward(q, k, v, s, { keyMask });
      assert.ok(allFinite(out));
      const cfg = { kernel: c.kernel, dim: s.dim, w: attn.projection };
      const ref = causal ? favorCausalReference(cfg, q, k, v, s, keyMask) : favorReference(cfg, q, k, v, s, keyMask);
      const err = relError(out, ref);
      assert.ok(err <= FIDELITY, `case ${n} causal=${causal}: ${err.toExponential(2)}`);
    }
  });
});

test('decoder: steps equal the causal pass; prefill; saved states carry the structured checksum', () => {
  const c = CASES[2];
  const s = { ...c.shape, batch: 1, heads: 2, queries: 24, keys: 24 };
  const { q, k, v } = attentionInputs(s, 77);
  const attn = instance(c, true);
  const full = attn.forward(q, k, v, s);
  const dec = attn.decoder({ heads: 2, valueDim: s.valueDim });
  const { dim: d, valueDim: dv } = s;
  const stepOut = new Float32Array(full.length);
  for (let t = 0; t < s.queries; t++) {
    const pick = (a: Float32Array, w: number) => {
      const o = new Float32Array(2 * w);
      for (let h = 0; h < 2; h++) o.set(a.subarray((h * s.queries + t) * w, (h * s.queries + t + 1) * w), h * w);
      return o;
    };
    const o = dec.step(pick(q, d), pick(k, d), pick(v, dv));
    for (let h = 0; h < 2; h++) stepOut.set(o.subarray(h * dv, (h + 1) * dv), (h * s.queries + t) * dv);
    if (t === 11) {
      const bytes = dec.saveState();
      const resumed = attn.decoderFromState(bytes);
      assert.equal(Array.from(resumed.saveState()), Array.from(bytes));
      resumed.dispose();
      // the same W run by the GEMM (an explicit projection) is another computation: its states do not mix
      const explicit = new FavorAttention({ dim: d, features: c.features, kernel: c.kernel, projection: attn.projection, causal: true, chunkSize: c.chunkSize });
      throwsCode(() => explicit.decoderFromState(bytes), 'INVALID_STATE');
      const other = new FavorAttention({ dim: d, features: c.features, kernel: c.kernel, projection: 'structured', seed: 4, causal: true, chunkSize: c.chunkSize });
      throwsCode(() => other.decoderFromState(bytes), 'INVALID_STATE');
    }
  }
  assert.ok(relError(stepOut, full) <= FIDELITY, `steps vs causal pass: ${relError(stepOut, full)}`);
  dec.dispose();
});

test('backward on structured instances: gradients against float64 with the materialized W (≤ 1e-5)', () => {
  CASES.slice(0, 5).forEach((c, n) => {
    for (const causal of [false, true]) {
      const s = causal ? { ...c.shape, keys: c.shape.queries } : c.shape;
      const { q, k, v, dOut } = attentionInputs(s, 40 + n);
      const keyMask = c.masked ? mask(s) : undefined;
      const attn = instance(c, causal);
      const g = attn.backward(q, k, v, dOut, s, { keyMask });
      const r = favorGradQuadratic({ kernel: c.kernel, dim: s.dim, w: attn.projection }, q, k, v, dOut, s, causal, keyMask);
      const norm = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((acc, x) => acc + x * x, 0));
      const scale = Math.hypot(norm(r.dq), norm(r.dk), norm(r.dv));
      for (const key of ['dq', 'dk', 'dv'] as const) {
        const diff = Math.sqrt(Array.from(g[key]).reduce((acc, x, i) => acc + (x - r[key][i]) ** 2, 0));
        assert.ok(diff / scale <= FIDELITY, `case ${n} causal=${causal} ${key}: ${(diff / scale).toExponential(2)}`);
      }
    }
  });
});

test('redraw: a new structured matrix, the one a fresh instance with that seed draws; outputs follow it', () => {
  const c = CASES[2];
  const attn = instance(c, false, 5);
  const before = attn.projection;
  attn.redraw(6);
  assert.is(attn.seed, 6);
  assert.equal(attn.projection, drawProjection(c.features, c.shape.dim, 'structured', 'chi', 6));
  assert.not.equal(attn.projection, before);
  const { q, k, v } = attentionInputs(c.shape, 5);
  assert.equal(attn.forward(q, k, v, c.shape), instance(c, false, 6).forward(q, k, v, c.shape));
  const sqrt = new FavorAttention({ dim: 16, features: 20, projection: 'structured', norms: 'sqrt-d' });
  assert.equal(sqrt.projection, drawProjection(20, 16, 'structured', 'sqrt-d', 0));
});

test("options: dim not a power of two → INVALID_OPTION naming the rule", () => {
  const message = throwsCode(() => new FavorAttention({ dim: 48, projection: 'structured' }), 'INVALID_OPTION');
  assert.match(message, /power of two/);
  throwsCode(() => new FavorAttention({ dim: 64, projection: 'structured', norms: 'unit' as never }), 'INVALID_OPTION');
});

test('threads: 2 threads give the one-thread results (bit for bit per whole head, ≤ 1e-6 for a split head)', async () => {
  const shapes: { s: Shape; causal: boolean }[] = [
    { s: { batch: 2, heads: 3, queries: 300, keys: 260, dim: 64, valueDim: 16 }, causal: false },
    { s: { batch: 1, heads: 4, queries: 300, keys: 300, dim: 32, valueDim: 8 }, causal: true },
    { s: { batch: 1, heads: 1, queries: 1500, keys: 1300, dim: 16, valueDim: 7 }, causal: false },
  ];
  const run = ({ s, causal }: { s: Shape; causal: boolean }) => {
    const { q, k, v } = attentionInputs(s, 9);
    return new FavorAttention({ dim: s.dim, features: 100, projection: 'structured', seed: 2, causal }).forward(q, k, v, s);
  };
  const single = shapes.map(run);
  await init(undefined, { relaxedSimd: false, threads: 2 });
  try {
    shapes.forEach((c, i) => {
      const out = run(c);
      if (c.s.batch * c.s.heads === 1) assert.ok(relError(out, single[i]) <= 1e-6);
      else assert.ok(out.every((x, j) => Object.is(x, single[i][j])), `not bit-identical: ${JSON.stringify(c.s)}`);
    });
  } finally {
    initSync(undefined, { relaxedSimd: false });
  }
});


test('hybrid attention (window, centring, β) on a structured projection: as the same hybrid on the materialized W (≤ 1e-5)', () => {
  // the window kernels project through project_rows too; the explicit matrix takes the GEMM, the same W
  const hybridCases: [Case, boolean][] = [[CASES[1], false], [CASES[2], true], [CASES[3], false]];
  hybridCases.forEach(([c, causal], n) => {
    const s = causal ? { ...c.shape, keys: c.shape.queries } : c.shape;
    const { q, k, v } = attentionInputs(s, 40 + n);
    const keyMask = c.masked ? mask(s) : undefined;
    const options = { dim: s.dim, features: c.features, kernel: c.kernel, causal, chunkSize: c.chunkSize, window: 5,
                      estimateLogScale: 0.25, centerKeys: causal ? new Float32Array(s.dim).fill(0.1) : true };
    const structured = new FavorAttention({ ...options, projection: 'structured', seed: 3 });
    const dense = new FavorAttention({ ...options, projection: structured.projection });
    const got = structured.forward(q, k, v, s, { keyMask });
    const want = dense.forward(q, k, v, s, { keyMask });
    assert.ok(relError(got, want) <= FIDELITY, `case ${n}: ${relError(got, want)}`);
  });
});
test.run();
