// ruvector-attention-wasm's WasmLinearAttention ("Linear Attention (Performer)"): its own random
// features; compute(query, keys, values) takes one query and the keys and values as JS arrays of
// Float32Array, so a whole attention is count·L calls, each over all L keys. We time QUERIES calls of
// the first head and scale the median to count·L queries; the error is over those queries' rows.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { PeerLoader, Prepared, Problem } from './types.ts';

const QUERIES = 4;
/** Beyond this L a call takes seconds (each query converts and scans all keys). */
const MAX_L = 4096;

export const ruvector: PeerLoader = {
  id: 'ruvector-attention-wasm',
  async load() {
    const require = createRequire(import.meta.url);
    const pkgJson = require.resolve('ruvector-attention-wasm/package.json');
    const pkg = JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string; main: string };
    const ru = (await import('ruvector-attention-wasm')) as any;
    ru.initSync({ module: readFileSync(path.join(path.dirname(pkgJson), 'ruvector_attention_wasm_bg.wasm')) });
    return {
      name: `ruvector-attention-wasm ${pkg.version} (LinearAttention)`,
      threads: 1,
      skip: (p: Problem) =>
        p.kind !== 'favor' ? 'no whole-sequence exact attention' : p.L > MAX_L ? `one query per call: L > ${MAX_L} not run` : undefined,
      async prepare(p: Problem): Promise<Prepared> {
        const { L, d } = p;
        const rowsOf = (x: Float32Array) => Array.from({ length: L }, (_, j) => x.slice(j * d, (j + 1) * d)); // head 0
        const keys = rowsOf(p.k);
        const values = rowsOf(p.v);
        const queries = rowsOf(p.q).slice(0, QUERIES);
        const attn = new ru.WasmLinearAttention(d, p.m);
        const out = new Float32Array(QUERIES * d);
        return {
          run() {
            for (let i = 0; i < QUERIES; i++) out.set(attn.compute(queries[i], keys, values) as Float32Array, i * d);
          },
          output: () => out,
          rows: Array.from({ length: QUERIES }, (_, i) => i),
          extrapolate: (p.count * L) / QUERIES,
          dispose: () => attn.free(),
        };
      },
    };
  },
};
