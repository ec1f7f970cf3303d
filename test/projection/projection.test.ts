// Projection matrices (src/projection/projection.ts): orthogonality, row-norm laws, Haar directions, unbiasedness of
// the positive random-feature estimator, determinism and argument checks. Pure TypeScript: no wasm.
//
// Every statistical check runs at fixed seeds, so its outcome is deterministic (no flakiness). The
// thresholds say how unlikely a failure would be for a correct implementation at random seeds: KS tests
// use α = 0.01; the bias check uses 4 standard errors (two-sided ≈ 6e-5 under the normal approximation).
import { execFileSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PerformerError } from '../../src/arguments/errors.ts';
import { checkExplicitProjection, checksumProjection, drawProjection, orthonormalRows } from '../../src/projection/projection.ts';
import { Rng } from '../../src/projection/rng.ts';
import { chiCdf, ksTest, meanStats, sphereCoordinateCdf } from '../reference/stats.ts';

function throwsCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, PerformerError);
    assert.is((e as PerformerError).code, code, (e as Error).message);
    return;
  }
  assert.unreachable(`expected a PerformerError ${code}`);
}

function rowDot(a: ArrayLike<number>, i: number, j: number, d: number): number {
  let s = 0;
  for (let c = 0; c < d; c++) s += a[i * d + c] * a[j * d + c];
  return s;
}

/** max over pairs i, j in the same block of |q_i·q_j − δ_ij| (rows normalized first when `normalize`). */
function blockOrthoError(q: ArrayLike<number>, m: number, d: number, normalize: boolean): number {
  let worst = 0;
  for (let i = 0; i < m; i++) {
    const start = i - (i % d);
    for (let j = start; j < Math.min(start + d, m); j++) {
      let p = rowDot(q, i, j, d);
      if (normalize) p /= Math.sqrt(rowDot(q, i, i, d) * rowDot(q, j, j, d));
      worst = Math.max(worst, Math.abs(p - (i === j ? 1 : 0)));
    }
  }
  return worst;
}

const SHAPES: [number, number][] = [
  [10, 4],
  [256, 64],
  [3, 7],
  [1, 1],
  [5, 1],
  [64, 64],
  [100, 16],
  [130, 128],
];

test('orthonormalRows: rows within each block orthonormal (float64, |QQᵀ − I| ≤ 1e-12)', () => {
  let worst = 0;
  for (const [m, d] of SHAPES) {
    const q = orthonormalRows(m, d, new Rng(m * 1000 + d));
    assert.is(q.length, m * d);
    const e = blockOrthoError(q, m, d, false);
    assert.ok(e <= 1e-12, `m=${m} d=${d}: ${e}`);
    worst = Math.max(worst, e);
  }
  console.log(`    orthonormal blocks: max |q_i·q_j − δ_ij| = ${worst.toExponential(2)}`);
});

test('drawProjection orthogonal: float32 rows orthogonal within blocks to 1e-6 (after normalizing)', () => {
  for (const [m, d] of SHAPES) {
    for (const norms of ['chi', 'sqrt-d'] as const) {
      const w = drawProjection(m, d, 'orthogonal', norms, 3);
      assert.is(w.length, m * d);
      const e = blockOrthoError(w, m, d, true);
      assert.ok(e <= 1e-6, `m=${m} d=${d} ${norms}: ${e}`);
    }
  }
});

test('drawProjection follows the documented stream: unit rows, then the χ norms, rounded once', () => {
  for (const [m, d] of [
    [10, 4],
    [3, 7],
  ]) {
    const rng = new Rng(42);
    const q = orthonormalRows(m, d, rng);
    const want = new Float32Array(m * d);
    for (let r = 0; r < m; r++) {
      const g = rng.fillNormal(new Float64Array(d));
      const norm = Math.sqrt(rowDot(g, 0, 0, d));
      for (let c = 0; c < d; c++) want[r * d + c] = q[r * d + c] * norm;
    }
    assert.equal(drawProjection(m, d, 'orthogonal', 'chi', 42), want);
  }
  const iid = drawProjection(6, 5, 'iid', 'chi', 9);
  assert.equal(iid, Float32Array.from(new Rng(9).fillNormal(new Float64Array(30))));
});

test("row norms: 'chi' follows χ_d (KS, α = 0.01); 'sqrt-d' rows have norm √d", () => {
  const results: string[] = [];
  for (const [kind, d, m, seeds] of [
    ['orthogonal', 16, 64, 64], // 4096 rows, 4 blocks per seed
    ['orthogonal', 3, 40, 100], // odd d, truncated blocks (40 = 13·3 + 1)
    ['iid', 16, 64, 64],
    ['structured', 16, 64, 64], // SORF rows (structured.test.ts tests the rest)
    ['structured', 64, 200, 20], // truncated last block
  ] as const) {
    const norms: number[] = [];
    for (let s = 0; s < seeds; s++) {
      const w = drawProjection(m, d, kind, 'chi', 1000 + s);
      for (let r = 0; r < m; r++) norms.push(Math.sqrt(rowDot(w, r, r, d)));
    }
    const ks = ksTest(norms, (x) => chiCdf(x, d));
    assert.ok(ks.p > 0.01, `${kind} d=${d}: KS p = ${ks.p}`);
    results.push(`${kind} d=${d} n=${ks.n}: D=${ks.d.toExponential(2)} p=${ks.p.toFixed(3)}`);
  }
  console.log(`    χ_d row norms: ${results.join('; ')}`);

  for (const kind of ['orthogonal', 'iid', 'structured'] as const) {
    for (const [m, d] of [
      [10, 4],
      [256, 64],
      [3, 7],
      [4, 1],
    ]) {
      if (kind === 'structured' && d === 7) continue; // not a power of two
      const w = drawProjection(m, d, kind, 'sqrt-d', 5);
      for (let r = 0; r < m; r++) {
        const norm = Math.sqrt(rowDot(w, r, r, d));
        assert.ok(Math.abs(norm / Math.sqrt(d) - 1) < 1e-6, `${kind} m=${m} d=${d} row ${r}: ${norm}`);
      }
    }
  }
});

test('d = 1: rows are ±|g|, both signs equally often', () => {
  const w = drawProjection(10_000, 1, 'orthogonal', 'chi', 11);
  let positive = 0;
  for (const x of w) if (x > 0) positive++;
  // Binomial(10000, ½): standard deviation 50; 4 standard errors.
  assert.ok(Math.abs(positive - 5000) < 200, `${positive} positive of 10000`);
  const ks = ksTest(Array.from(w, Math.abs), (x) => chiCdf(x, 1));
  assert.ok(ks.p > 0.01, `KS p = ${ks.p}`);
});

/**
 * The mistake this file must catch: rows taken from Householder QR (LAPACK's convention, as in
 * numpy.linalg.qr) without multiplying Q's columns by sign(diag R). Each R_jj gets the sign opposite to
 * the pivot, so for example the first row always has a negative first coordinate: not Haar.
 * Returns d unit rows (the columns of Q), m×d row-major, consuming d·d normals column-major.
 */
function householderRowsNoSignFix(d: number, rng: Rng): Float64Array {
  const a = new Float64Array(d * d); // a[i·d + j]: row i, column j; the columns are the Gaussian vectors
  for (let j = 0; j < d; j++) for (let i = 0; i < d; i++) a[i * d + j] = rng.normal();
  const q = new Float64Array(d * d);
  for (let i = 0; i < d; i++) q[i * d + i] = 1;
  const v = new Float64Array(d);
  for (let j = 0; j < d; j++) {
    const alpha = a[j * d + j];
    let tail = 0;
    for (let i = j + 1; i < d; i++) tail += a[i * d + j] ** 2;
    if (tail === 0) continue; // H_j = I (dlarfg's tau = 0)
    const beta = -Math.sign(alpha) * Math.sqrt(alpha * alpha + tail); // dlarfg: R_jj = −sign(α)·‖x‖
    const tau = (beta - alpha) / beta;
    v.fill(0);
    v[j] = 1;
    for (let i = j + 1; i < d; i++) v[i] = a[i * d + j] / (alpha - beta);
    for (let c = j; c < d; c++) {
      // A ← H_j A
      let s = 0;
      for (let i = j; i < d; i++) s += v[i] * a[i * d + c];
      for (let i = j; i < d; i++) a[i * d + c] -= tau * v[i] * s;
    }
    for (let r = 0; r < d; r++) {
      // Q ← Q H_j
      let s = 0;
      for (let i = j; i < d; i++) s += q[r * d + i] * v[i];
      for (let i = j; i < d; i++) q[r * d + i] -= tau * s * v[i];
    }
  }
  const rows = new Float64Array(d * d);
  for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) rows[r * d + c] = q[c * d + r];
  return rows;
}

/** The same biased generator scaled like drawProjection(d, d, 'orthogonal', 'chi'). */
function householderProjection(d: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const w = householderRowsNoSignFix(d, rng);
  for (let r = 0; r < d; r++) {
    const g = rng.fillNormal(new Float64Array(d));
    const norm = Math.sqrt(rowDot(g, 0, 0, d));
    for (let c = 0; c < d; c++) w[r * d + c] *= norm;
  }
  return w;
}

test('the Householder helper is orthonormal, so only its distribution is wrong', () => {
  const q = householderRowsNoSignFix(6, new Rng(1));
  assert.ok(blockOrthoError(q, 6, 6, false) < 1e-12);
});

test('Haar directions: each coordinate of each unit row has the uniform-on-sphere marginal (KS, α = 0.01)', () => {
  const n = 4000;
  const lines: string[] = [];
  for (const d of [3, 4]) {
    // column c of row r, over n seeds; also the same for the Householder generator
    const ours: number[][] = Array.from({ length: d * d }, () => []);
    const hh: number[][] = Array.from({ length: d * d }, () => []);
    for (let s = 0; s < n; s++) {
      const q = orthonormalRows(d, d, new Rng(s));
      const h = householderRowsNoSignFix(d, new Rng(s));
      for (let k = 0; k < d * d; k++) {
        ours[k].push(q[k]);
        hh[k].push(h[k]);
      }
    }
    let minP = 1;
    for (const c of [0, d - 1]) {
      for (let r = 0; r < d; r++) {
        const ks = ksTest(ours[r * d + c], (t) => sphereCoordinateCdf(t, d));
        assert.ok(ks.p > 0.01, `d=${d} row ${r} coordinate ${c}: KS p = ${ks.p}`);
        minP = Math.min(minP, ks.p);
      }
    }
    // The biased generator fails at its first row's first coordinate (always negative).
    const bad = ksTest(hh[0], (t) => sphereCoordinateCdf(t, d));
    assert.ok(bad.p < 1e-6, `Householder without sign fix, d=${d}: KS p = ${bad.p}`);
    lines.push(`d=${d}: min p over ${2 * d} marginals ${minP.toFixed(3)}, Householder row 0 coord 0 p = ${bad.p.toExponential(1)}`);
  }
  console.log(`    Haar marginals (n=${n}): ${lines.join('; ')}`);
});

test('no sign bias: the positive estimator is unbiased for exp(xᵀy) (d = m = 4, 20000 seeds); Householder without sign fix is not', () => {
  const d = 4;
  const seeds = 20_000;
  // x = y = 0.6·e1 is the design note's pair (exp(0.36) = 1.433; the biased generator gives ≈ 1.156).
  const pairs: [number[], number[]][] = [
    [
      [0.6, 0, 0, 0],
      [0.6, 0, 0, 0],
    ],
    [
      [0.4, 0.4, 0.4, 0.4],
      [0.4, 0.4, 0.4, 0.4],
    ],
    [
      [0.5, -0.3, 0.2, 0.1],
      [0.4, 0.2, -0.3, 0.2],
    ],
  ];
  /** φ(x)ᵀφ(y) with φ(x) = exp(Wx − ‖x‖²/2)/√m. */
  function estimate(w: ArrayLike<number>, x: number[], y: number[]): number {
    const hx = x.reduce((s, t) => s + t * t, 0) / 2;
    const hy = y.reduce((s, t) => s + t * t, 0) / 2;
    let e = 0;
    for (let r = 0; r < d; r++) {
      let ux = 0;
      let uy = 0;
      for (let c = 0; c < d; c++) {
        ux += w[r * d + c] * x[c];
        uy += w[r * d + c] * y[c];
      }
      e += Math.exp(ux - hx) * Math.exp(uy - hy);
    }
    return e / d;
  }
  const generators: [string, (seed: number) => ArrayLike<number>, boolean][] = [
    ['orthogonal', (s) => drawProjection(d, d, 'orthogonal', 'chi', s), true],
    ['iid', (s) => drawProjection(d, d, 'iid', 'chi', s), true],
    ['householder-no-sign-fix', (s) => householderProjection(d, s), false],
  ];
  for (const [x, y] of pairs) {
    const want = Math.exp(x.reduce((s, t, i) => s + t * y[i], 0));
    const parts: string[] = [];
    for (const [name, draw, unbiased] of generators) {
      const samples = new Float64Array(seeds);
      for (let s = 0; s < seeds; s++) samples[s] = estimate(draw(s), x, y);
      const { mean, stderr } = meanStats(samples);
      const z = (mean - want) / stderr;
      if (unbiased) assert.ok(Math.abs(z) < 4, `${name} x=${x}: mean ${mean} vs ${want} (z = ${z.toFixed(2)})`);
      else assert.ok(Math.abs(z) > 10, `${name} x=${x} should be visibly biased: mean ${mean} vs ${want} (z = ${z.toFixed(2)})`);
      parts.push(`${name} ${mean.toFixed(4)} (z ${z.toFixed(1)})`);
    }
    console.log(`    x=[${x}] y=[${y}] exp(xᵀy)=${want.toFixed(4)}: ${parts.join(', ')}`);
  }
});

// Golden checksums: any change of the generator, the seeding, the normal sampler, the Gram–Schmidt order
// or the draw order changes these. Update them only on purpose (saved decoder states carry them).
const GOLDEN: [number, number, 'orthogonal' | 'iid' | 'structured', 'chi' | 'sqrt-d', number, number][] = [
  [256, 64, 'orthogonal', 'chi', 7, 0x7de37890],
  [256, 64, 'orthogonal', 'sqrt-d', 7, 0x9975bc22],
  [256, 64, 'iid', 'chi', 7, 0xe830ebf1],
  [256, 64, 'iid', 'sqrt-d', 7, 0x9cc55045],
  [10, 4, 'orthogonal', 'chi', 0, 0x6d6ba37f],
  [3, 7, 'orthogonal', 'chi', 0xffffffff, 0x38d858f2],
  [256, 64, 'structured', 'chi', 7, 0x81f85b86],
  [256, 64, 'structured', 'sqrt-d', 7, 0xa8e63f55],
  [100, 16, 'structured', 'chi', 0, 0x3e9f1170],
  [3, 4, 'structured', 'chi', 0xffffffff, 0x15b92f47],
];

test('determinism: golden checksums; same seed → same bits, different seed → different matrix', () => {
  for (const [m, d, kind, norms, seed, sum] of GOLDEN) {
    const w = drawProjection(m, d, kind, norms, seed);
    assert.is(checksumProjection(w), sum, `${m}×${d} ${kind} ${norms} seed ${seed}: 0x${checksumProjection(w).toString(16)}`);
    assert.equal(drawProjection(m, d, kind, norms, seed), w);
    assert.is.not(checksumProjection(drawProjection(m, d, kind, norms, (seed ^ 1) >>> 0)), sum);
  }
});

test('determinism: a separate process (and Bun/JavaScriptCore, when present) draws bit-identical matrices', () => {
  const url = new URL('../../src/projection/projection.ts', import.meta.url).href;
  const code =
    `const p = await import(${JSON.stringify(url)});` +
    `const g = ${JSON.stringify(GOLDEN.map(([m, d, k, n, s]) => [m, d, k, n, s]))};` +
    `console.log(JSON.stringify(g.map(([m, d, k, n, s]) => p.checksumProjection(p.drawProjection(m, d, k, n, s)))));`;
  const want = GOLDEN.map((g) => g[5]);
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8' });
  assert.equal(JSON.parse(out.trim()), want);
  // Another engine: BUN=path/to/bun, or `bun` on PATH. Skipped (with a note) when there is none.
  const bun = process.env.BUN ?? 'bun';
  let bunOut: string | undefined;
  try {
    bunOut = execFileSync(bun, ['-e', code], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (bunOut === undefined) console.log('    (no bun found: the JavaScriptCore comparison was skipped; set BUN=path to run it)');
  else assert.equal(JSON.parse(bunOut.trim()), want, 'Bun (JavaScriptCore) drew different bits');
});

test('checksumProjection: FNV-1a over the little-endian bytes', () => {
  assert.is(checksumProjection(new Float32Array(0)), 0x811c9dc5); // the FNV-1a offset basis
  // 1.0f = 0x3f800000: bytes 00 00 80 3f
  let h = 0x811c9dc5;
  for (const b of [0x00, 0x00, 0x80, 0x3f]) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  assert.is(checksumProjection(new Float32Array([1])), h);
  const w = drawProjection(8, 4, 'iid', 'chi', 1);
  const sub = w.subarray(4, 12);
  assert.is(checksumProjection(sub), checksumProjection(w.slice(4, 12)));
  const flipped = w.slice();
  flipped[17] = -flipped[17];
  assert.is.not(checksumProjection(flipped), checksumProjection(w));
});

test('bad arguments throw the right codes', () => {
  for (const bad of [0, -1, 1.5, NaN, Infinity, '4', undefined]) {
    throwsCode(() => drawProjection(bad as number, 4, 'orthogonal', 'chi', 1), 'INVALID_SIZE');
    throwsCode(() => drawProjection(4, bad as number, 'iid', 'chi', 1), 'INVALID_SIZE');
    throwsCode(() => orthonormalRows(bad as number, 4, new Rng(1)), 'INVALID_SIZE');
  }
  throwsCode(() => drawProjection(1 << 14, 1 << 13, 'orthogonal', 'chi', 1), 'INVALID_SIZE'); // 2^27 entries
  throwsCode(() => drawProjection(4, 4, 'haar' as 'iid', 'chi', 1), 'INVALID_OPTION');
  throwsCode(() => drawProjection(4, 4, 'orthogonal', 'unit' as 'chi', 1), 'INVALID_OPTION');
  for (const seed of [-1, 2 ** 32, 0.5, NaN, '7', null]) {
    throwsCode(() => drawProjection(4, 4, 'orthogonal', 'chi', seed as number), 'INVALID_OPTION');
  }
});

test('checkExplicitProjection: type, length, finiteness; returns a copy', () => {
  const w = drawProjection(6, 4, 'orthogonal', 'chi', 2);
  const copy = checkExplicitProjection(w, 6, 4);
  assert.equal(copy, w);
  assert.ok(copy.buffer !== w.buffer);
  assert.equal(checkExplicitProjection(w, undefined, 4), w); // m = 24 / 4 inferred
  assert.equal(checkExplicitProjection(w, undefined, 8), w); // 3 × 8 is a valid reading too
  throwsCode(() => checkExplicitProjection(Array.from(w), 6, 4), 'INVALID_TYPE');
  throwsCode(() => checkExplicitProjection(Float64Array.from(w), 6, 4), 'INVALID_TYPE');
  throwsCode(() => checkExplicitProjection(null, 6, 4), 'INVALID_TYPE');
  throwsCode(() => checkExplicitProjection(w, 5, 4), 'INVALID_LENGTH');
  throwsCode(() => checkExplicitProjection(w, undefined, 5), 'INVALID_LENGTH');
  throwsCode(() => checkExplicitProjection(new Float32Array(0), undefined, 4), 'INVALID_LENGTH');
  throwsCode(() => checkExplicitProjection(w, 0, 4), 'INVALID_SIZE');
  throwsCode(() => checkExplicitProjection(w, 6, 0), 'INVALID_SIZE');
  for (const x of [NaN, Infinity, -Infinity]) {
    const bad = w.slice();
    bad[13] = x;
    throwsCode(() => checkExplicitProjection(bad, 6, 4), 'NON_FINITE');
  }
});

test.run();
