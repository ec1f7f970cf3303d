// Real attention heads (the committed sample of USE-lite's heads, test/data/heads, docs/accuracy-data.md) with
// fitted hybrid maps (test/data/fitted-maps: fitted by scripts/real-model-study.ts on other passages, exported by
// scripts/export-fitted-maps.ts): the issue-13 aims on the sample's two held-out passages, deterministic (fixed
// maps, seed-0 projections). The full per-head study: docs/accuracy.md.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import '../support/setup.ts';
import { exactAttention, FavorAttention, type FavorAttentionOptions } from '../../src/index.ts';
import { readHeads, type HeadSequence } from '../../bench/heads.ts';

const dir = new URL('../data/fitted-maps/', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('manifest.json', dir), 'utf8')) as { heads: Record<string, Record<string, unknown>> };
const data = readHeads(new URL('../data/heads/', import.meta.url).pathname);

function fitted(name: string): FavorAttentionOptions {
  const { projection, centerKeys, ...rest } = manifest.heads[name];
  const bytes = readFileSync(new URL(projection as string, dir));
  return { ...rest, projection: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4).slice(),
           centerKeys: Float32Array.from(centerKeys as number[]) } as FavorAttentionOptions;
}

/** Relative Frobenius error against exact attention over the held-out sequences. */
function error(seqs: HeadSequence[], dim: number, attend: (s: HeadSequence) => ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (const s of seqs) {
    const shape = { queries: s.length, dim, valueDim: s.v.length / s.length };
    const exact = exactAttention(s.q, s.k, s.v, shape);
    const est = attend(s);
    exact.forEach((x, i) => { num += (est[i] - x) ** 2; den += x * x; });
  }
  return Math.sqrt(num / den);
}

function meanV(s: HeadSequence): Float32Array {
  const dv = s.v.length / s.length;
  const out = new Float32Array(s.v.length);
  for (let j = 0; j < s.length; j++) for (let t = 0; t < dv; t++) out[t] += s.v[j * dv + t] / s.length;
  for (let i = 1; i < s.length; i++) out.copyWithin(i * dv, 0, dv);
  return out;
}

const through = (o: FavorAttentionOptions) => {
  const attn = new FavorAttention(o);
  return (s: HeadSequence) => attn.forward(s.q, s.k, s.v, { queries: s.length, dim: o.dim, valueDim: s.v.length / s.length });
};

test('real heads: window 16 + a fitted normalized map (with its β) is ≥ 2× better than mean(V) on every sample head; β matters', () => {
  for (const head of data.heads) {
    const held = head.sequences.filter((s) => s.split === 'held-out');
    const options = fitted(head.name); // dim from the manifest
    const mv = error(held, head.dim, meanV);
    const hybrid = error(held, head.dim, through(options));
    const noBeta = error(held, head.dim, through({ ...options, estimateLogScale: 0 }));
    console.log(`    ${head.name}: mean(V) ${mv.toFixed(3)}, w16 + fitted map ${hybrid.toFixed(3)} (β = 0: ${noBeta.toFixed(3)})`);
    assert.ok(hybrid <= 0.5 * mv, `${head.name}: ${hybrid} vs mean(V) ${mv}`);
    assert.ok(hybrid < noBeta, head.name);
  }
});

test('real heads: the sharply positional head l0h1 is within 0.3 with window 16, m 256 and centred keys', () => {
  const head = data.heads.find((h) => h.name === 'l0h1')!;
  const held = head.sequences.filter((s) => s.split === 'held-out');
  const err = error(held, head.dim, through({ dim: head.dim, features: 256, window: 16, centerKeys: true }));
  console.log(`    l0h1: w16 + m256 centred ${err.toFixed(3)}`);
  assert.ok(err <= 0.3, `${err}`);
});

test.run();
