// Exact attention through the public API, output preallocated so only the computation is timed.
import { randn } from '../data.ts';
import { defineMode, intFlag, intList, shapeFlags } from '../mode.ts';
import { peerFlags, peerNotes, peerOptions } from '../peers/flags.ts';
import { timedRow, timingColumns, type Table } from '../table.ts';
import { exactAttention } from 'performer-wasm';

export const exact = defineMode({
  name: 'exact',
  summary: 'exactAttention ms and effective GFLOP/s (4·L²·d per head), non-causal',
  default: true,
  flags: { ...shapeFlags, ...peerFlags },
  notes: ['Defaults: --seq 256,1024,4096 --dim 64 --heads 1 --batch 1; q, k, v ~ N(0, 0.5²).',
          'Includes the facade\'s copies in and out of wasm memory; excludes allocating the output.', ...peerNotes],
  parse: (flags) => ({
    seq: intList(flags, 'seq', [256, 1024, 4096]),
    dim: intFlag(flags, 'dim', 64),
    heads: intFlag(flags, 'heads', 1),
    batch: intFlag(flags, 'batch', 1),
    peers: peerOptions(flags),
  }),
  async run(ctx, { seq, dim, heads, batch, peers }) {
    const rows = seq.map((L) => {
      const n = batch * heads * L * dim;
      const [q, k, v, out] = [randn(n, 1, 0.5), randn(n, 2, 0.5), randn(n, 3, 0.5), new Float32Array(n)];
      const shape = { batch, heads, queries: L, dim };
      const timing = ctx.measure(`exact L=${L}`, () => exactAttention(q, k, v, shape, { out }));
      return timedRow({ L, d: dim, batch, heads }, timing, 4 * L * L * dim * batch * heads);
    });
    const table: Table = {
      mode: 'exact',
      title: 'Exact attention (exactAttention, non-causal)',
      columns: [
        { key: 'L', label: 'L', format: String },
        { key: 'd', label: 'd', format: String },
        { key: 'batch', label: 'batch', format: String },
        { key: 'heads', label: 'heads', format: String },
        ...timingColumns,
      ],
      rows,
    };
    if (!peers.peers) return table;
    const { exactPeers } = await import('../peers/hooks.ts');
    return [table, ...(await exactPeers(table, { seq, heads, dim, batch }, peers))];
  },
});
