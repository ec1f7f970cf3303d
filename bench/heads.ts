// Reads a folder of attention heads dumped from a real model (research/real-models/dump-heads.ts; the format is
// documented in docs/accuracy-data.md): manifest.json plus, per head, little-endian float32 files of
// Q, K and V, [rows, dim] row-major with the sequences back to back. Q is before any 1/√dim scale unless
// the manifest says `queryScale: "scaled"` (then it is multiplied back by √dim here).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from './mode.ts';

export type Split = 'train' | 'held-out';

export interface HeadSequence {
  split: Split;
  length: number;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
}

export interface Head {
  name: string;
  dim: number;
  valueDim: number;
  sequences: HeadSequence[];
}

export interface HeadsData {
  model: string;
  causal: boolean;
  heads: Head[];
}

interface ManifestHead { name: string; dim: number; valueDim?: number; files: { q: string; k: string; v: string } }
interface ManifestSequence { split: string; length: number; offset: number }

function fail(dir: string, message: string): never {
  throw new UsageError(`--data ${dir}: ${message}`);
}

function readJson(dir: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(join(dir, 'manifest.json'), 'utf8');
  } catch (error) {
    fail(dir, `cannot read manifest.json (${(error as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    fail(dir, `manifest.json is not JSON (${(error as Error).message})`);
  }
}

function readFloats(dir: string, file: string, count: number): Float32Array {
  let bytes: Buffer;
  try {
    bytes = readFileSync(join(dir, file));
  } catch (error) {
    fail(dir, `cannot read ${file} (${(error as Error).message})`);
  }
  if (bytes.length !== 4 * count) fail(dir, `${file} holds ${bytes.length} bytes; the manifest implies ${4 * count}`);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = bytes.readFloatLE(4 * i);
  return out;
}

const isCount = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 1;

/** Reads and checks manifest.json and every head's files; `only` keeps the heads with these names. */
export function readHeads(dir: string, only?: string[]): HeadsData {
  const manifest = readJson(dir);
  const sequences = manifest.sequences as ManifestSequence[];
  const heads = manifest.heads as ManifestHead[];
  if (!Array.isArray(sequences) || !sequences.length) fail(dir, 'manifest.json has no sequences');
  if (!Array.isArray(heads) || !heads.length) fail(dir, 'manifest.json has no heads');
  const queryScale = manifest.queryScale ?? 'none';
  if (queryScale !== 'none' && queryScale !== 'scaled') fail(dir, `queryScale must be "none" or "scaled" (got ${JSON.stringify(queryScale)})`);
  const scaled = queryScale === 'scaled';
  let rows = 0;
  for (const s of sequences) {
    if (s.split !== 'train' && s.split !== 'held-out') fail(dir, `a sequence's split must be "train" or "held-out" (got ${JSON.stringify(s.split)})`);
    if (!isCount(s.length) || !Number.isInteger(s.offset) || s.offset < 0) fail(dir, 'every sequence needs a length ≥ 1 and an offset ≥ 0 (rows)');
    rows = Math.max(rows, s.offset + s.length);
  }
  if (!sequences.some((s) => s.split === 'held-out')) fail(dir, 'no held-out sequence to measure the error on');
  const unknown = only?.filter((name) => !heads.some((h) => h.name === name));
  if (unknown?.length) fail(dir, `no head named ${unknown.join(', ')} (heads: ${heads.map((h) => h.name).join(', ')})`);
  const kept = only ? heads.filter((h) => only.includes(h.name)) : heads;
  return {
    model: typeof manifest.model === 'object' && manifest.model ? String((manifest.model as { name?: unknown }).name ?? 'unnamed') : String(manifest.model ?? 'unnamed'),
    causal: manifest.causal === true,
    heads: kept.map((h) => {
      const dv = h.valueDim ?? h.dim;
      if (typeof h.name !== 'string' || !isCount(h.dim) || !isCount(dv) || !h.files) fail(dir, 'every head needs a name, a dim, optionally a valueDim, and files { q, k, v }');
      const q = readFloats(dir, h.files.q, rows * h.dim);
      const k = readFloats(dir, h.files.k, rows * h.dim);
      const v = readFloats(dir, h.files.v, rows * dv);
      if (scaled) for (let i = 0; i < q.length; i++) q[i] *= Math.sqrt(h.dim);
      return {
        name: h.name,
        dim: h.dim,
        valueDim: dv,
        sequences: sequences.map((s) => ({
          split: s.split as Split,
          length: s.length,
          q: q.subarray(s.offset * h.dim, (s.offset + s.length) * h.dim),
          k: k.subarray(s.offset * h.dim, (s.offset + s.length) * h.dim),
          v: v.subarray(s.offset * dv, (s.offset + s.length) * dv),
        })),
      };
    }),
  };
}

/** k − mean over the sequence's keys (softmax over keys is unchanged by a shift of every key; docs/design.md §1b). */
export function centered(k: Float32Array, dim: number): Float32Array {
  const n = k.length / dim;
  const mean = new Float64Array(dim);
  for (let j = 0; j < n; j++) for (let t = 0; t < dim; t++) mean[t] += k[j * dim + t] / n;
  const out = new Float32Array(k.length);
  for (let j = 0; j < n; j++) for (let t = 0; t < dim; t++) out[j * dim + t] = k[j * dim + t] - mean[t];
  return out;
}
