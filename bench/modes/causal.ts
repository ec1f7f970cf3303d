// Causal FAVOR+ (chunked prefix sums) beside bidirectional FAVOR+ and exact causal attention.
import { ERROR_MAX_L, meanValueError, QK_SIGMA, randn, relError } from '../data.ts';
import { defineMode, exactMaxFlag, favorFlags, shapeFlags, windowFlag } from '../mode.ts';
import { peerFlags, peerOptions } from '../peers/flags.ts';
import { prefixed, type Row, type Table } from '../table.ts';
import { exactAttention, FavorAttention } from 'performer-wasm';
import { attentionOptions, exactTimed, sci } from './favor.ts';

export const causal = defineMode({
  name: 'causal',
  summary: 'causal FAVOR+ ms beside bidirectional FAVOR+ and exact causal attention; error vs exact causal',
  flags: { ...shapeFlags, ...favorFlags, ...exactMaxFlag, ...windowFlag, ...peerFlags },
  notes: [
    'Defaults: --seq 1024,4096,16384 --heads 1 --dim 64 --features 256 --kernel softmax --batch 1 --exact-max 16384;',
    '  FavorAttention chunkSize 128 (its default). Both FAVOR+ instances share the seed 0 projection (--projection, default',
    '  orthogonal; with iid or structured the causal pass is also timed against the orthogonal one in alternation: vs orthogonal).',
    'Causal and bidirectional FAVOR+ are timed in alternation, sample by sample (their ms: those samples\' medians;',
    '  causal/bidir: the median of the paired ratios); exact causal attention likewise beside causal FAVOR+ (speedup).',
    `Errors (L ≤ ${ERROR_MAX_L}) against exact causal attention, inputs as in favor; the baseline answers query i with the`,
    '  mean of v over positions ≤ i.',
    '--window w: the causal column is causal hybrid attention (exact window w); "vs plain" times it in alternation with',
    '  plain causal FAVOR+ (same projection): the median of the paired ratios hybrid / plain.',
    '--peers: onnxruntime-web and onnxruntime-node run causal FAVOR+ through their contrib op com.microsoft.LinearAttention',
    '  (update_rule linear) on positive features computed by ops with the projection matrix of ours (--projection), V with',
    '  a ones column for the denominator; each must agree with our output within 1e-4 (relative) before it is timed.',
  ],
  parse: (flags) => ({ ...attentionOptions(flags, [1024, 4096, 16384], [1]), peers: peerOptions(flags) }),
  async run(ctx, { seq, heads, dim, batch, features, kernel, projection, exactMax, window, peers }) {
    const causalAttn = new FavorAttention({ dim, features, kernel, projection, seed: 0, causal: true, window });
    const plainCausal = window > 0 ? new FavorAttention({ dim, features, kernel, projection, seed: 0, causal: true }) : undefined;
    const bidirAttn = new FavorAttention({ dim, features, kernel, projection, seed: 0 });
    const denseAttn = projection === 'orthogonal' ? null : new FavorAttention({ dim, features, kernel, seed: 0, causal: true, window });
    const M = causalAttn.featureCount;
    const maxHeads = Math.max(...heads);
    const rows: Row[] = [];
    for (const L of seq) {
      const n = batch * maxHeads * L * dim;
      const [q, k, v] = [randn(n, 11, QK_SIGMA), randn(n, 12, QK_SIGMA), randn(n, 13, 1)];
      const [causalOut, bidirOut] = [new Float32Array(n), new Float32Array(n)];
      let exactOut: Float32Array | undefined;
      for (const h of heads) {
        const len = batch * h * L * dim;
        const [qs, ks, vs, co, bo] = [q, k, v, causalOut, bidirOut].map((a) => a.subarray(0, len));
        const shape = { batch, heads: h, queries: L, dim };
        const causalCall = () => void causalAttn.forward(qs, ks, vs, shape, { out: co });
        // causal and bidirectional in alternation, so that their ratio sees one load
        const pair = await ctx.measurePair(`causal and bidirectional FAVOR+ L=${L} heads=${h}`, causalCall,
                                           () => bidirAttn.forward(qs, ks, vs, shape, { out: bo }));
        const row: Row = {
          L, heads: h, batch, d: dim, M, kernel,
          ...prefixed(pair.ours, 'causal'), ...prefixed(pair.other, 'bidir'), ratio: 1 / pair.ratio,
        };
        if (plainCausal) {
          const po = new Float32Array(len);
          const vs2 = await ctx.measurePair(`plain causal FAVOR+ L=${L} heads=${h}`, causalCall, () => void plainCausal.forward(qs, ks, vs, shape, { out: po }));
          Object.assign(row, prefixed(vs2.other, 'plain'), { vsPlain: 1 / vs2.ratio });
        }
        const denseOut = denseAttn ? new Float32Array(len) : undefined;
        if (denseAttn) {
          const paired = await ctx.measurePair(`orthogonal causal L=${L} heads=${h}`, causalCall, () => void denseAttn.forward(qs, ks, vs, shape, { out: denseOut }));
          row.vsDense = paired.ratio;
        }
        const timed = exactTimed(batch, h, L, exactMax);
        if (timed || L <= ERROR_MAX_L) {
          exactOut ??= new Float32Array(n);
          const eo = exactOut.subarray(0, len);
          const call = () => exactAttention(qs, ks, vs, shape, { causal: true, out: eo });
          if (timed) {
            const te = await ctx.measurePair(`exact causal L=${L} heads=${h}`, causalCall, call);
            Object.assign(row, prefixed(te.other, 'exact'), { speedup: te.ratio });
          } else {
            call();
          }
          if (L <= ERROR_MAX_L) {
            row.causalError = relError(co, eo);
            if (denseOut) row.denseError = relError(denseOut, eo);
            row.meanVError = meanValueError(vs, eo, batch * h, L, L, dim, true);
          }
        }
        rows.push(row);
      }
    }
    const table: Table = {
      mode: 'causal',
      title: `Causal FAVOR+ vs bidirectional FAVOR+ and exact causal (d = ${dim}, M = ${M}, kernel ${kernel}, projection ${projection}, batch ${batch}${window ? `, window ${window}` : ''})`,
      columns: [
        { key: 'L', label: 'L', format: String },
        { key: 'heads', label: 'heads', format: String },
        { key: 'causalMedianMs', label: 'causal ms' },
        { key: 'bidirMedianMs', label: 'bidir ms' },
        { key: 'ratio', label: 'causal/bidir', format: (x) => x.toFixed(2) },
        { key: 'plainMedianMs', label: 'plain causal ms', optional: true },
        { key: 'vsPlain', label: 'vs plain', format: (x) => x.toFixed(2) + '×', optional: true },
        { key: 'exactMedianMs', label: 'exact causal ms' },
        { key: 'speedup', label: 'speedup', format: (x) => `${x >= 10 ? x.toFixed(1) : x.toFixed(2)}×` },
        { key: 'vsDense', label: 'vs orthogonal', format: (x) => `${x.toFixed(2)}×`, optional: true },
        { key: 'causalError', label: 'causal err', format: sci },
        { key: 'denseError', label: 'orthogonal err', format: sci, optional: true },
        { key: 'meanVError', label: 'prefix-mean err', format: sci },
      ],
      rows,
    };
    if (!peers.peers) return table;
    const { causalPeers } = await import('../peers/hooks.ts');
    return [table, ...(await causalPeers(table, { seq, heads, dim, batch, features, kernel, projection, window }, peers))];
  },
});
