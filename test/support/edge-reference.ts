// Shared by the edge decoder tests: what Node's FavorDecoder answers to a session's requests (the
// reference the service must equal bit for bit), and a byte changed in the stored copies on disk.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FavorAttention } from 'performer-wasm';
import type { RequestKind } from '../../examples/edge-decoder/protocol.js';

export interface Shape {
  heads: number;
  dim: number;
  valueDim: number;
}

/** One request of a session: its kind, its first token and its token count. */
export interface Planned {
  kind: RequestKind;
  from: number;
  tokens: number;
}

export const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** Index of the first float whose bits differ, or -1. */
export function firstDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const x = bits(a);
  const y = bits(b);
  return x.findIndex((value, i) => value !== y[i]);
}

/**
 * Node's answers to `plan` on a fresh decoder: a step request steps token by token (every output), a
 * prefill calls decoder.prefill on its tokens rearranged head-major (its last output, or all). q, k, v
 * hold the session's tokens token-major, as the wire carries them.
 */
export function nodeAnswers(attn: FavorAttention, shape: Shape, q: Float32Array, k: Float32Array, v: Float32Array, plan: Planned[]): Float32Array[] {
  const { heads, dim, valueDim } = shape;
  const decoder = attn.decoder({ heads, valueDim });
  const answers = plan.map(({ kind, from, tokens }) => {
    if (kind === 'step') {
      const out = new Float32Array(tokens * heads * valueDim);
      for (let t = from; t < from + tokens; t++) {
        decoder.step(q.subarray(t * heads * dim, (t + 1) * heads * dim), k.subarray(t * heads * dim, (t + 1) * heads * dim),
          v.subarray(t * heads * valueDim, (t + 1) * heads * valueDim), out.subarray((t - from) * heads * valueDim, (t - from + 1) * heads * valueDim));
      }
      return out;
    }
    // [tokens, heads, width] on the wire → [heads, tokens, width] for prefill (batch 1), and back
    const headMajor = (x: Float32Array, width: number) => {
      const out = new Float32Array(tokens * heads * width);
      for (let h = 0; h < heads; h++) for (let t = 0; t < tokens; t++) for (let i = 0; i < width; i++) out[(h * tokens + t) * width + i] = x[((from + t) * heads + h) * width + i]!;
      return out;
    };
    const y = decoder.prefill(headMajor(q, dim), headMajor(k, dim), headMajor(v, valueDim), tokens);
    const rows = kind === 'prefill-all' ? tokens : 1;
    const out = new Float32Array(rows * heads * valueDim);
    for (let r = 0; r < rows; r++) {
      const t = tokens - rows + r;
      for (let h = 0; h < heads; h++) out.set(y.subarray((h * tokens + t) * valueDim, (h * tokens + t + 1) * valueDim), (r * heads + h) * valueDim);
    }
    return out;
  });
  decoder.dispose();
  return answers;
}

/**
 * Changes one byte, `offset` bytes after every stored copy of `needle`, in the SQLite files (database
 * and write-ahead log) under `storage`; returns how many copies it changed.
 */
export function corruptOnDisk(storage: string, needle: Uint8Array, offset: number): number {
  let found = 0;
  for (const entry of readdirSync(storage, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !/\.sqlite(-wal)?$/.test(entry.name)) continue;
    const path = join(entry.parentPath, entry.name);
    const bytes = readFileSync(path);
    let changed = 0;
    for (let at = bytes.indexOf(needle); at >= 0; at = bytes.indexOf(needle, at + 1)) {
      bytes[at + offset] ^= 0x01;
      changed++;
    }
    if (changed) writeFileSync(path, bytes);
    found += changed;
  }
  return found;
}
