// USE-lite's sentence embeddings with every one of its 8 heads replaced (use-lite/model.ts with an `attend`
// hook), against the exact model's, on the held-out passages: the cosine of each passage's embedding to the
// exact one, and whether each passage's replaced embedding retrieves the passage itself first among the exact
// embeddings of the held-out set. The replacements run through the library in float32 (FavorAttention.forward);
// the fitted maps come from research/real-models/real-model-study.ts --save.
//   node --import tsx research/real-models/real-model-study.ts --data /tmp/heads --save /tmp/real-fits.json
//   node --import tsx research/real-models/real-model-embeddings.ts --model /tmp/package/dist --fits /tmp/real-fits.json
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { FavorAttention, initSync, type FavorAttentionOptions } from '../../src/index.ts';
import { forward, loadUseLite, MAX_TOKENS, softmaxAttention, type Attend } from './use-lite/model.ts';
import { Tokenizer } from './use-lite/tokenizer.ts';

const here = dirname(new URL(import.meta.url).pathname);
const { values: flags } = parseArgs({
  options: {
    model: { type: 'string', default: '/tmp/package/dist' },
    fits: { type: 'string', default: '/tmp/real-fits.json' },
    text: { type: 'string', default: join(here, 'data/passages.txt') },
    'held-out': { type: 'string', default: '10' }, // the last N passages, as research/real-models/dump-heads.ts
  },
});
initSync(undefined, { relaxedSimd: false });

const model = loadUseLite(flags.model!);
const tokenizer = new Tokenizer(model.vocabulary);
// passages as research/real-models/dump-heads.ts reads them: paragraphs, '#' lines dropped
const passages = readFileSync(flags.text!, 'utf8').split(/\n\s*\n/)
  .map((p) => p.split('\n').filter((l) => !l.startsWith('#')).join(' ').trim()).filter(Boolean);
const held = passages.slice(passages.length - Number(flags['held-out'])).map((t) => tokenizer.encode(t).slice(0, MAX_TOKENS));
const fits = JSON.parse(readFileSync(flags.fits!, 'utf8')) as { features: number; window: number; heads: Record<string, { dim: number; hybrid: Record<string, unknown>; alone: Record<string, unknown> }> };

/** JSON options back to FavorAttention's (arrays → Float32Array). */
const revive = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).map(([k, x]) => [k, Array.isArray(x) ? Float32Array.from(x) : x]));

/** Every head through FavorAttention with options(layer, head, dh) (built once per head), in float32. */
function through(options: (name: string, dh: number) => FavorAttentionOptions): Attend {
  const cache = new Map<string, FavorAttention>();
  return (q, k, v, n, dh, l, h) => {
    const name = `l${l}h${h}`;
    let attn = cache.get(name);
    if (!attn) cache.set(name, attn = new FavorAttention(options(name, dh)));
    return attn.forward(Float32Array.from(q), Float32Array.from(k), Float32Array.from(v), { queries: n, dim: dh });
  };
}

const meanV: Attend = (_q, _k, v, n, dh) => {
  const out = new Float64Array(n * dh);
  for (let j = 0; j < n; j++) for (let t = 0; t < dh; t++) out[t] += v[j * dh + t] / n;
  for (let i = 1; i < n; i++) out.copyWithin(i * dh, 0, dh);
  return out;
};

const w = fits.window;
const variants: [string, Attend][] = [
  ['exact (float64 softmax, as model.ts)', (q, k, v, n, dh) => softmaxAttention(q, k, v, n, dh)],
  ['mean(V)', meanV],
  ['FAVOR+ m256', through((_, dh) => ({ dim: dh, features: 256 }))],
  [`w${w} + m256 centred`, through((_, dh) => ({ dim: dh, features: 256, window: w, centerKeys: true }))],
  [`w${w} + fitted m${fits.features} (β)`, through((name, dh) => ({ dim: dh, ...revive(fits.heads[name].hybrid) }))],
  [`w${w} + fitted m${fits.features}, β = 0`, through((name, dh) => ({ dim: dh, ...revive(fits.heads[name].hybrid), estimateLogScale: 0 }))],
  [`fitted m${fits.features} alone`, through((name, dh) => ({ dim: dh, ...revive(fits.heads[name].alone) }))],
];

const exact = held.map((ids) => forward(model, ids).embedding);
const cosine = (a: Float64Array, b: Float64Array) => a.reduce((s, x, i) => s + x * b[i], 0); // unit vectors
console.log(`${held.length} held-out passages (${held.map((ids) => ids.length).join(', ')} tokens); fits: m ${fits.features}, window ${w}\n`);
console.log('| heads replaced by | cosine to exact: mean | min | retrieves itself first |');
console.log('|---|---|---|---|');
for (const [name, attend] of variants) {
  const emb = held.map((ids) => forward(model, ids, attend).embedding);
  const cos = emb.map((e, i) => cosine(e, exact[i]));
  const firsts = emb.filter((e, i) => exact.every((x, j) => j === i || cosine(e, x) < cosine(e, exact[i]))).length;
  console.log(`| ${name} | ${(cos.reduce((a, b) => a + b, 0) / cos.length).toFixed(4)} | ${Math.min(...cos).toFixed(4)} | ${firsts} of ${held.length} |`);
}
