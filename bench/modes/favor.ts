// FAVOR+ (bidirectional) beside exact attention: time, effective GFLOP/s, speedup, and accuracy
// against exact attention next to the trivial mean(V) baseline.
import { ERROR_MAX_L, meanValueError, QK_SIGMA, randn, relError } from '../data.ts';
import { defineMode, exactMaxFlag, UsageError, type FlagValues, favorFlags, intFlag, intList, kernelFlag, projectionFlag, shapeFlags, windowFlag, windowOf } from '../mode.ts';
import { peerFlags, peerNotes, peerOptions } from '../peers/flags.ts';
import { prefixed, sig3, type Row, type Table } from '../table.ts';
import { exactAttention, FavorAttention, runtimeInfo } from 'performer-wasm';
import { passGemms } from '../gemm-bound.ts';
import { threading } from 'performer-wasm/internal';

/** Whether exact attention is timed at this size: batch·heads·L² ≤ exactMax². */
export const exactTimed = (batch: number, heads: number, L: number, exactMax: number) => batch * heads * L * L <= exactMax * exactMax;

export const favor = defineMode({
  name: 'favor',
  summary: 'FAVOR+ (bidirectional) ms, GFLOP/s, speedup over exact, error vs exact and vs the mean(V) baseline',
  default: true,
  flags: { ...shapeFlags, ...favorFlags, ...exactMaxFlag, ...windowFlag, ...peerFlags },
  notes: [
    'Defaults: --seq 256,1024,4096,16384,65536 --heads 1,8 --dim 64 --features 256 --kernel softmax --projection orthogonal --batch 1',
    'vs orthogonal (--projection iid or structured): the same call with the orthogonal projection (seed 0), timed in',
    '  alternation: the median of the paired ratios orthogonal ms / this projection\'s ms, and the orthogonal error.',
    `  --exact-max 16384 (exact is timed up to L = 16384 at 1 head, 4096 at 8 heads; "–" where not).`,
    'GFLOP/s: 8·L·M·d per head and median call (M = featureCount, dv = d): the Q and K projections, Φ_Kᵀ·V and',
    '  Φ_Q·S, 2·L·M·d each (nominal for 2m-feature kernels). Not counted: the 2·L·M exps (sin/cos) of φ and',
    '  the ~2·L·M flops of z and φ(q)ᵀz; counted as 1 flop each they would add 1/(2d) ≈ 0.8% at d = 64.',
    `Errors (L ≤ ${ERROR_MAX_L}): ‖out − exact‖_F / ‖exact‖_F on the timed inputs, q, k ~ N(0, ${QK_SIGMA}²), v ~ N(0, 1), for FAVOR+`,
    '  (seed 0 projection) and for the baseline that answers every query with its head\'s mean over keys of v.',
    `GEMM share (one thread, L ≤ ${ERROR_MAX_L}): the pass\'s GEMMs alone (per chunk: two projections, Φ_Kᵀ·V, Φ_Q·S, on`,
    '  buffers of their own, hot in cache) over the pass, timed in alternation (median of paired ratios).',
    `vs 1 thread (--threads > 1, L ≤ ${ERROR_MAX_L}): the one-thread time of the same call over the threaded one, in alternation.`,
    'speedup: exact attention timed in alternation with FAVOR+, sample by sample; the median of the paired ratios',
    '  exact / FAVOR+ (exact ms: the median of those samples). Both through the public API with a preallocated out (copies in and out of',
    '  wasm memory included). Inputs are built once per L (for the most heads; fewer heads use a prefix).',
    '--window w: the FAVOR+ column is hybrid attention (exact window w + FAVOR+); "vs plain" times it in alternation with',
    '  plain FAVOR+ (same projection) and gives the median of the paired ratios hybrid / plain; "plain err" is plain FAVOR+\'s error.',
    ...peerNotes,
  ],
  parse: (flags) => ({ ...attentionOptions(flags, [256, 1024, 4096, 16384, 65536], [1, 8]), peers: peerOptions(flags) }),
  async run(ctx, { seq, heads, dim, batch, features, kernel, projection, exactMax, window, peers }) {
    const attn = new FavorAttention({ dim, features, kernel, projection, seed: 0, window });
    const plain = window > 0 ? new FavorAttention({ dim, features, kernel, projection, seed: 0 }) : undefined;
    const dense = projection === 'orthogonal' ? null : new FavorAttention({ dim, features, kernel, seed: 0, window });
    const M = attn.featureCount;
    const m = attn.projection.length / dim;
    const threads = runtimeInfo().threads;
    const maxHeads = Math.max(...heads);
    const rows: Row[] = [];
    for (const L of seq) {
      const n = batch * maxHeads * L * dim;
      const [q, k, v] = [randn(n, 11, QK_SIGMA), randn(n, 12, QK_SIGMA), randn(n, 13, 1)];
      const favorOut = new Float32Array(n);
      let exactOut: Float32Array | undefined;
      for (const h of heads) {
        const len = batch * h * L * dim;
        const [qs, ks, vs, fo] = [q.subarray(0, len), k.subarray(0, len), v.subarray(0, len), favorOut.subarray(0, len)];
        const shape = { batch, heads: h, queries: L, dim };
        const favorCall = () => void attn.forward(qs, ks, vs, shape, { out: fo });
        const tf = ctx.measure(`FAVOR+ L=${L} heads=${h}`, favorCall);
        const flops = 8 * L * M * dim * batch * h;
        const row: Row = { L, heads: h, batch, d: dim, M, kernel, projection, window, flops, ...prefixed(tf, 'favor'), gflops: flops / (tf.medianMs * 1e6) };
        let po: Float32Array | undefined;
        if (plain) { // hybrid beside plain FAVOR+, in alternation
          po = new Float32Array(len);
          const pair = await ctx.measurePair(`plain FAVOR+ L=${L} heads=${h}`, favorCall, () => void plain.forward(qs, ks, vs, shape, { out: po }));
          Object.assign(row, prefixed(pair.other, 'plain'), { vsPlain: 1 / pair.ratio });
        }
        const denseOut = dense ? new Float32Array(len) : undefined;
        if (dense) {
          const paired = await ctx.measurePair(`orthogonal L=${L} heads=${h}`, favorCall, () => void dense.forward(qs, ks, vs, shape, { out: denseOut }));
          Object.assign(row, { vsDense: paired.ratio, densePairedMs: paired.other.medianMs });
        }
        if (L <= ERROR_MAX_L && threads > 1) {
          // the same call on one thread (the pool's threshold raised for it), in alternation
          const oneThread = () => {
            const { minRows } = threading;
            threading.minRows = Infinity;
            try {
              favorCall();
            } finally {
              threading.minRows = minRows;
            }
          };
          row.threadSpeedup = (await ctx.measurePair(`one thread L=${L} heads=${h}`, favorCall, oneThread)).ratio;
        } else if (L <= ERROR_MAX_L && projection !== 'structured') { // one thread: the GEMMs are timed on one too (a structured pass has no projection GEMMs)
          const gemms = passGemms({ L, count: batch * h, C: Math.min(attn.chunkSize, L), d: dim, dv: dim, m, twoBlock: M === 2 * m });
          const paired = await ctx.measurePair(`GEMM share L=${L} heads=${h}`, favorCall, gemms.run);
          gemms.release();
          row.gemmShare = paired.ratio;
        }
        const timed = exactTimed(batch, h, L, exactMax);
        if (timed || L <= ERROR_MAX_L) {
          exactOut ??= new Float32Array(n);
          const eo = exactOut.subarray(0, len);
          if (timed) {
            // in alternation with FAVOR+, so that the speedup compares the two under the same load
            const paired = await ctx.measurePair(`exact L=${L} heads=${h}`, favorCall, () => exactAttention(qs, ks, vs, shape, { out: eo }));
            Object.assign(row, prefixed(paired.other, 'exact'), { speedup: paired.ratio, favorPairedMs: paired.ours.medianMs });
          } else {
            exactAttention(qs, ks, vs, shape, { out: eo });
          }
          if (L <= ERROR_MAX_L) {
            row.favorError = relError(fo, eo);
            if (po) row.plainError = relError(po, eo);
            if (denseOut) row.denseError = relError(denseOut, eo);
            row.meanVError = meanValueError(vs, eo, batch * h, L, L, dim);
          }
        }
        rows.push(row);
      }
    }
    const table: Table = {
      mode: 'favor',
      title: `FAVOR+ bidirectional vs exact attention (d = ${dim}, M = ${M}, kernel ${kernel}, projection ${projection}, batch ${batch})`,
      columns: [
        { key: 'L', label: 'L', format: String },
        { key: 'heads', label: 'heads', format: String },
        { key: 'favorMedianMs', label: 'FAVOR+ ms' },
        { key: 'gflops', label: 'GFLOP/s', format: (x) => x.toFixed(2) },
        { key: 'favorRme', label: '±RME', format: (x) => `±${x.toFixed(1)}%` },
        { key: 'plainMedianMs', label: 'plain ms', optional: true },
        { key: 'vsPlain', label: 'vs plain', format: (x) => `${sig3(x)}×`, optional: true },
        { key: 'gemmShare', label: 'GEMM share', format: (x) => `${(100 * x).toFixed(0)}%`, optional: true },
        { key: 'threadSpeedup', label: 'vs 1 thread', format: (x) => `${sig3(x)}×`, optional: true },
        { key: 'exactMedianMs', label: 'exact ms' },
        { key: 'speedup', label: 'speedup', format: (x) => `${sig3(x)}×` },
        { key: 'vsDense', label: 'vs orthogonal', format: (x) => `${sig3(x)}×`, optional: true },
        { key: 'favorError', label: 'FAVOR+ err', format: sci },
        { key: 'plainError', label: 'plain err', format: sci, optional: true },
        { key: 'denseError', label: 'orthogonal err', format: sci, optional: true },
        { key: 'meanVError', label: 'mean(V) err', format: sci },
      ],
      rows,
    };
    if (window > 0) table.title += `, window ${window}`;
    if (!peers.peers) return table;
    const { favorPeers } = await import('../peers/hooks.ts');
    return [table, ...(await favorPeers(table, { seq, heads, dim, batch, features, kernel, projection }, peers))];
  },
});

/** The flags of the modes that time attention (favor, causal, train), with their defaults of L and heads. */
export function attentionOptions(flags: FlagValues, seq: number[], heads: number[]) {
  return {
    seq: intList(flags, 'seq', seq),
    heads: intList(flags, 'heads', heads),
    dim: intFlag(flags, 'dim', 64),
    batch: intFlag(flags, 'batch', 1),
    features: intFlag(flags, 'features', 256),
    kernel: kernelFlag(flags),
    projection: projectionFlag(flags),
    exactMax: exactMaxOf(flags),
    window: windowOf(flags),
  };
}

/** --exact-max: an integer ≥ 0 (0: never time exact attention). */
function exactMaxOf(flags: FlagValues): number {
  const raw = flags['exact-max'];
  if (raw === undefined) return 16384;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--exact-max takes an integer ≥ 0 (got "${raw}")`);
  return n;
}

export const sci = (x: number) => x.toExponential(2);
