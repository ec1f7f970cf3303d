import '../support/setup.ts';
// Structured orthogonal projections (SORF, src/projection/structured.ts and the wasm transform in
// assembly/projection/structured.ts): the materialized W against an independent float64 reference, the
// kernel's u against W, block orthogonality, the laws of the signs and norms, golden checksums, bad options.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { throwsCode } from '../support/expect.ts';
import { prepareFeatures } from '../../src/feature-maps/features.ts';
import { FEATURE_MAPS } from '../../src/feature-maps/kernels.ts';
import { drawProjection } from '../../src/projection/projection.ts';
import { drawStructured } from '../../src/projection/structured.ts';
import { sorfBlock } from '../reference/structured.ts';
import { randn } from '../support/data.ts';
import { projectRows } from '../support/project.ts';

const SHAPES: [number, number][] = [ // [m, d]: full, truncated, several blocks, m < d, d below the kernel's 16
  [16, 16], [64, 64], [256, 64], [100, 64], [200, 32], [127, 128], [256, 128], [300, 256], [7, 64], [1, 16],
  [33, 16], [10, 8], [5, 4], [3, 2], [4, 1],
];

test('materialized W = diag(ρ)·Π·Ĥ·D₁·Π·Ĥ·D₂·Π·Ĥ·D₃ per block (independent float64 reference, rounded once)', () => {
  for (const [m, d] of SHAPES) {
    const { w, tables } = drawStructured(m, d, 'chi', 5);
    for (let b = 0; b < tables.blocks; b++) {
      const sign = (step: number) => tables.signs.subarray((b * 3 + step) * d, (b * 3 + step + 1) * d);
      const ref = sorfBlock([sign(2), sign(1), sign(0)], d); // tables hold D₃, D₂, D₁
      for (let p = 0; p < Math.min(d, m - b * d); p++) {
        for (let j = 0; j < d; j++) {
          const want = Math.fround(tables.norms[b * d + p] * ref[p * d + j]);
          const got = w[(b * d + p) * d + j];
          assert.ok(Math.abs(got - want) <= 1e-6 * Math.abs(tables.norms[b * d + p]), `m=${m} d=${d} row ${b * d + p} col ${j}: ${got} vs ${want}`);
        }
      }
    }
  }
});

test('each d-block satisfies W_b·W_bᵀ = diag(ρ²) (float32 W, |·| ≤ 1e-6·ρ_iρ_j)', () => {
  let worst = 0;
  for (const [m, d] of SHAPES) {
    for (const norms of ['chi', 'sqrt-d'] as const) {
      const { w, tables } = drawStructured(m, d, norms, 9);
      for (let i = 0; i < m; i++) {
        const start = i - (i % d);
        for (let j = start; j < Math.min(start + d, m); j++) {
          let s = 0;
          for (let c = 0; c < d; c++) s += w[i * d + c] * w[j * d + c];
          const scale = tables.norms[i] * tables.norms[j];
          const e = Math.abs(s - (i === j ? scale : 0)) / scale;
          worst = Math.max(worst, e);
          assert.ok(e <= 1e-6, `m=${m} d=${d} ${norms} rows ${i},${j}: ${e}`);
        }
        if (norms === 'sqrt-d') assert.is(tables.norms[i], Math.sqrt(d));
      }
    }
  }
  console.log(`    structured blocks: max |ω_i·ω_j − δ_ij ρ_i²| / ρ_iρ_j = ${worst.toExponential(2)}`);
});

test("kernel: u from project_rows equals a float64 evaluation of the materialized W·x̂ to 1e-6 (relative to ‖ω_r‖‖x̂‖)", () => {
  let worst = 0;
  for (const [m, d] of SHAPES) {
    for (const kernel of ['softmax', 'relu'] as const) {
      for (const rows of [1, 5, 33]) {
        const { w, tables } = drawStructured(m, d, 'chi', 11 + m);
        const f = prepareFeatures(FEATURE_MAPS[kernel], d, w, 0, tables);
        const x = randn(rows * d, 100 + rows + d, 3);
        const u = projectRows(f, x, rows);
        const s = kernel === 'softmax' ? d ** -0.25 : 1;
        for (let i = 0; i < rows; i++) {
          let xx = 0;
          for (let c = 0; c < d; c++) xx += x[i * d + c] ** 2;
          for (let r = 0; r < f.mp; r++) {
            if (r >= m) {
              assert.is(u[i * f.mp + r], 0, `pad column ${r}`);
              continue;
            }
            let want = 0;
            for (let c = 0; c < d; c++) want += w[r * d + c] * x[i * d + c] * s;
            const e = Math.abs(u[i * f.mp + r] - want) / (tables.norms[r] * Math.sqrt(xx) * s);
            worst = Math.max(worst, e);
            assert.ok(e <= 1e-6, `m=${m} d=${d} ${kernel} rows=${rows} (${i}, ${r}): ${u[i * f.mp + r]} vs ${want}`);
          }
        }
      }
    }
  }
  console.log(`    kernel vs float64 W·x̂: max |Δu_r| / (ρ_r‖x̂‖) = ${worst.toExponential(2)}`);
});

test('kernel: huge inputs stay finite (the 1/√d of each step is folded into the signs)', () => {
  const d = 64;
  const { w, tables } = drawStructured(256, d, 'sqrt-d', 1);
  const f = prepareFeatures(FEATURE_MAPS.relu, d, w, 0, tables);
  const x = new Float32Array(d).fill(3e37);
  const u = projectRows(f, x, 1);
  // ‖x‖ = 8·3e37 = 2.4e38 < f32 max, and |u_r| ≤ ‖ω_r‖‖x‖/... = √d·‖x‖ would overflow only where the GEMM's would
  for (let r = 0; r < 256; r++) assert.ok(Number.isFinite(u[r]) || Math.abs(u[r]) === Infinity);
  const xs = new Float32Array(d).fill(1e36);
  const us = projectRows(f, xs, 1);
  for (let r = 0; r < 256; r++) assert.ok(Number.isFinite(us[r]), `row ${r}: ${us[r]}`);
});

test("norms: the rows of W carry the drawn ρ (the χ_d law is tested with the other kinds in projection.test.ts)", () => {
  for (const [m, d] of SHAPES) {
    const { w, tables } = drawStructured(m, d, 'chi', 3);
    for (let r = 0; r < m; r++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += w[r * d + c] ** 2;
      assert.ok(Math.abs(Math.sqrt(s) / tables.norms[r] - 1) < 1e-6, `m=${m} d=${d} row ${r}`);
    }
  }
});

test('signs: each sign is −1 with probability ½ (binomial, per position and overall, 4 standard errors)', () => {
  const d = 64;
  const seeds = 400;
  const perPosition = new Float64Array(3 * d);
  let total = 0;
  let n = 0;
  for (let s = 0; s < seeds; s++) {
    const { signs } = drawStructured(d, d, 'sqrt-d', s).tables;
    for (let i = 0; i < signs.length; i++) {
      if (signs[i] < 0) {
        perPosition[i]++;
        total++;
      }
      assert.ok(signs[i] === 1 || signs[i] === -1);
      n++;
    }
  }
  const se = Math.sqrt(n * 0.25);
  assert.ok(Math.abs(total - n / 2) <= 4 * se, `overall ${total} of ${n}`);
  // per position: 192 binomials; 4.5 standard errors (two-sided ≈ 7e-6 each, ≈ 1e-3 for all 192)
  const sePos = Math.sqrt(seeds * 0.25);
  for (let i = 0; i < perPosition.length; i++) {
    assert.ok(Math.abs(perPosition[i] - seeds / 2) <= 4.5 * sePos, `position ${i}: ${perPosition[i]} of ${seeds}`);
  }
});

test('determinism: same seed → same bits, and drawProjection(…, \'structured\', …) is drawStructured().w (golden checksums, also in another process and Bun: projection.test.ts)', () => {
  for (const [m, d] of SHAPES) {
    assert.equal(drawProjection(m, d, 'structured', 'chi', 7), drawStructured(m, d, 'chi', 7).w);
    assert.equal(drawStructured(m, d, 'sqrt-d', 7), drawStructured(m, d, 'sqrt-d', 7));
  }
  assert.not.equal(drawProjection(64, 64, 'structured', 'chi', 1), drawProjection(64, 64, 'structured', 'chi', 2));
});

test("bad options: dim not a power of two → INVALID_OPTION naming the rule", () => {
  for (const d of [3, 6, 48, 100]) {
    assert.match(throwsCode(() => drawProjection(64, d, 'structured', 'chi', 1), 'INVALID_OPTION'), /power of two/);
  }
  throwsCode(() => drawProjection(0, 64, 'structured', 'chi', 1), 'INVALID_SIZE');
});

test.run();
