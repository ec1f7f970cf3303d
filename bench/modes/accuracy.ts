// The paper's accuracy figure (Choromanski et al. 2021, Fig. 3 left): error of FAVOR attention against
// exact attention as the number of random features m grows, for positive orthogonal, positive i.i.d.,
// trigonometric and hyperbolic features, beside the trivial mean(V) baseline. Not timed.
import { errorSums, randn } from '../data.ts';
import { defineMode, favorFlags, intFlag, intList, shapeFlags, UsageError, type FlagValues } from '../mode.ts';
import type { Row, Table } from '../table.ts';
import type { Charted, Series } from '../svg.ts';
import { exactAttention, FavorAttention, type KernelName } from 'performer-wasm';
import { sci } from './favor.ts';
import { advisorFlags, advisorNotes, parseAdvisor, runAdvisor, type AdvisorOptions } from './advisor.ts';

/** The estimators of the figure: a kernel and a projection each. */
const ALL_VARIANTS: { name: string; kernel: KernelName; projection: 'orthogonal' | 'iid' | 'structured' }[] = [
  { name: 'positive, orthogonal', kernel: 'softmax', projection: 'orthogonal' },
  { name: 'positive, structured', kernel: 'softmax', projection: 'structured' },
  { name: 'positive, i.i.d.', kernel: 'softmax', projection: 'iid' },
  { name: 'trigonometric, orthogonal', kernel: 'softmax-trig', projection: 'orthogonal' },
  { name: 'hyperbolic, orthogonal', kernel: 'softmax-hyperbolic', projection: 'orthogonal' },
];
const BASELINE = 'mean(V) baseline';

interface SyntheticOptions { L: number; dim: number; features: number[]; sigma: number; draws: number }
const DEFAULT_SIGMA = 0.5;

export const accuracy = defineMode({
  name: 'accuracy',
  summary: 'error of FAVOR against exact attention vs m: positive orthogonal / structured / i.i.d., trig, hyperbolic (the paper\'s MSE figure)',
  flags: {
    seq: shapeFlags.seq,
    dim: shapeFlags.dim,
    features: favorFlags.features,
    sigma: { type: 'string', value: '<σ>', help: 'accuracy: q, k ~ N(0, σ²) per entry (default 0.5)' },
    draws: { type: 'string', value: '<n>', help: 'accuracy: input and projection draws per point (default 15)' },
    ...advisorFlags,
  },
  notes: [
    `Defaults: --seq 4096 --dim 16 --features 16,32,64,128,256,512 --sigma ${DEFAULT_SIGMA} --draws 15 (first L only; --features is a list here).`,
    '  One head, not timed; about 10 s at the defaults on 2 cores.',
    'Per draw t (t = 0 … draws−1): q, k ~ N(0, σ²) and v ~ N(0, 1), L × d each (fresh inputs), and a fresh projection',
    '  (seed t) for every estimator. Error of the attention OUTPUT (the paper plots the attention matrix):',
    '  MSE = mean over the L·d entries of (out − exact)², rel err = ‖out − exact‖_F / ‖exact‖_F; reported as',
    '  mean ± sd (sample sd) over the draws. m = projection rows; trig and hyperbolic use M = 2m features (twice the work).',
    '  The mean(V) baseline answers every query with the mean of v over keys (independent of m).',
    '  positive, structured: the SORF projection (projection \'structured\'; only when d is a power of two).',
    ...advisorNotes,
  ],
  parse: (flags): SyntheticOptions | { advisor: AdvisorOptions } => (flags.data !== undefined ? { advisor: parseAdvisor(flags) } : {
    L: intList(flags, 'seq', [4096])[0],
    dim: intFlag(flags, 'dim', 16),
    features: intList(flags, 'features', [16, 32, 64, 128, 256, 512]),
    sigma: sigmaOf(flags),
    draws: intFlag(flags, 'draws', 15),
  }),
  run(ctx, options) {
    if ('advisor' in options) return runAdvisor(ctx, options.advisor);
    const { L, dim, features, sigma, draws } = options;
    const VARIANTS = ALL_VARIANTS.filter((v) => v.projection !== 'structured' || (dim & (dim - 1)) === 0);
    const n = L * dim;
    const shape = { queries: L, dim };
    const exact = new Float32Array(n);
    const out = new Float32Array(n);
    // errors[variant][m index] = per-draw [mse, rel]
    const errors = VARIANTS.map(() => features.map(() => ({ mse: [] as number[], rel: [] as number[] })));
    const baseline = { mse: [] as number[], rel: [] as number[] };
    const instances = VARIANTS.map((v) => features.map((m) => new FavorAttention({ dim, features: m, kernel: v.kernel, projection: v.projection, seed: 0 })));
    const started = performance.now();
    for (let t = 0; t < draws; t++) {
      const [q, k, v] = [randn(n, 1000 + 3 * t, sigma), randn(n, 1001 + 3 * t, sigma), randn(n, 1002 + 3 * t, 1)];
      exactAttention(q, k, v, shape, { out: exact });
      const base = meanValueErrors(v, exact, L, dim);
      baseline.mse.push(base.mse);
      baseline.rel.push(base.rel);
      VARIANTS.forEach((_, vi) =>
        features.forEach((_, mi) => {
          const attn = instances[vi][mi];
          if (attn.seed !== t) attn.redraw(t);
          attn.forward(q, k, v, shape, { out });
          const e = errorsOf(out, exact);
          errors[vi][mi].mse.push(e.mse);
          errors[vi][mi].rel.push(e.rel);
        }),
      );
      if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K[accuracy] draw ${t + 1}/${draws} (${((performance.now() - started) / 1e3).toFixed(1)} s)`);
    }
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');

    const fields = { L, d: dim, sigma, draws };
    const rows: Row[] = [];
    VARIANTS.forEach((variant, vi) =>
      features.forEach((m, mi) => {
        const e = errors[vi][mi];
        rows.push({ estimator: variant.name, kernel: variant.kernel, projection: variant.projection, m, M: instances[vi][mi].featureCount, ...fields, ...stats(e.mse, 'mse'), ...stats(e.rel, 'rel') });
      }),
    );
    rows.push({ estimator: BASELINE, ...fields, ...stats(baseline.mse, 'mse'), ...stats(baseline.rel, 'rel') });

    const sub = `L = ${L}, d = ${dim}, q, k ~ N(0, ${sigma}²), v ~ N(0, 1); mean ± sd over ${draws} draws`;
    const series: Series[] = VARIANTS.map((variant, vi) => ({
      name: variant.name,
      points: features.map((m, mi) => [m, mean(errors[vi][mi].mse), sd(errors[vi][mi].mse)] as [number, number, number]),
    }));
    const base = mean(baseline.mse);
    series.push({ name: BASELINE, style: 'reference', points: features.map((m) => [m, base] as [number, number]) });
    const table: Table & Charted = {
      mode: 'accuracy',
      title: `FAVOR attention output vs exact attention against m (${sub})`,
      columns: [
        { key: 'estimator', label: 'estimator' },
        { key: 'm', label: 'm', format: String },
        { key: 'M', label: 'M', format: String },
        { key: 'mseMean', label: 'MSE', format: sci },
        { key: 'mseSd', label: '±sd', format: (x) => `±${sci(x)}` },
        { key: 'relMean', label: 'rel err', format: sci },
        { key: 'relSd', label: '±sd', format: (x) => `±${sci(x)}` },
      ],
      rows,
      charts: [{
        id: 'accuracy',
        title: 'FAVOR attention: output MSE against exact attention',
        subtitle: sub,
        xLabel: 'random features m = projection rows',
        yLabel: 'MSE of the attention output',
        series,
        errorBars: true,
      }],
    };
    return table;
  },
});

function sigmaOf(flags: FlagValues): number {
  const raw = flags.sigma;
  if (raw === undefined) return DEFAULT_SIGMA;
  const s = Number(raw);
  if (!(s > 0) || !Number.isFinite(s)) throw new UsageError(`--sigma takes a number > 0 (got "${raw}")`);
  return s;
}

/** MSE (mean of squared entry errors) and relative Frobenius error, in float64. */
function errorsOf(x: Float32Array, ref: Float32Array): { mse: number; rel: number } {
  const { num, den } = errorSums(x, ref);
  return { mse: num / ref.length, rel: Math.sqrt(num / den) };
}

/** The errors of answering every query with the mean over keys of v ([L, dv], one head). */
function meanValueErrors(v: Float32Array, ref: Float32Array, L: number, dv: number): { mse: number; rel: number } {
  const avg = new Float64Array(dv);
  for (let j = 0; j < L; j++) for (let t = 0; t < dv; t++) avg[t] += v[j * dv + t];
  const x = new Float32Array(L * dv);
  for (let i = 0; i < L; i++) for (let t = 0; t < dv; t++) x[i * dv + t] = avg[t] / L;
  return errorsOf(x, ref);
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** Sample standard deviation (0 for a single draw). */
const sd = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
const stats = (xs: number[], prefix: string): Row => ({ [`${prefix}Mean`]: mean(xs), [`${prefix}Sd`]: sd(xs) });
