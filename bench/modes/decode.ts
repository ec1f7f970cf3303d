// Recurrent decoding: FavorDecoder.step (one token for every (batch, head)) and prefill throughput.
import { QK_SIGMA, randn } from '../data.ts';
import { defineMode, favorFlags, intFlag, kernelFlag, projectionFlag, shapeFlags, windowFlag, windowOf } from '../mode.ts';
import { peerFlags, peerOptions } from '../peers/flags.ts';
import { type Row, type Table } from '../table.ts';
import { FavorAttention } from 'performer-wasm';

/** Distinct tokens the timed steps cycle through (so the key stabilizer sees varied keys). */
const POOL = 64;
/** The step loop resets the decoder after this many tokens (the cost of a step does not depend on the position). */
const RESET_EVERY = 1 << 16;

export const decode = defineMode({
  name: 'decode',
  summary: 'FavorDecoder: µs per step and tokens/s (one token for all heads), prefill tokens/s',
  flags: {
    heads: shapeFlags.heads, dim: shapeFlags.dim, batch: shapeFlags.batch, ...favorFlags, ...windowFlag,
    prefill: { type: 'string', value: '<n>', help: 'tokens per timed prefill call (default 4096)' },
    ...peerFlags,
  },
  notes: [
    'Defaults: --heads 8 --batch 1 --dim 64 --features 256 --kernel softmax --prefill 4096; inputs as in favor.',
    `step: one call = one token for every (batch, head), cycling through ${POOL} preallocated tokens, out preallocated;`,
    `  the decoder is reset every ${RESET_EVERY} tokens inside the timed loop (amortized: < 0.01%). tokens/s = batch / step time.`,
    'prefill: reset() then prefill(<n> tokens) per call, out preallocated; tokens/s = batch·<n> / call time.',
    '  "prefill <n>, last output": prefill(…, { outputs: \'last\' }) (the queries before the last chunk unread); "vs every',
    '  output": timed in alternation with the prefill of every output, the median of the paired ratios every / last.',
    '--window w: the decoder of hybrid attention (a ring of the last w + 1 keys); "vs plain" times each call in alternation',
    '  with the plain decoder\'s (same projection, same tokens): the median of the paired ratios hybrid / plain.',
    'vs orthogonal (--projection iid or structured): a decoder with the orthogonal projection (seed 0) timed in alternation',
    '  with this one, call by call: the median of the paired ratios orthogonal time / this time.',
    '--peers: onnxruntime-web and onnxruntime-node step com.microsoft.LinearAttention one token at a time with its state',
    `  (past_state), the same tokens and projection as ours; their outputs over ${POOL} steps from an empty state must agree`,
    '  with our decoder\'s within 1e-4 (relative) before the step is timed in alternation with ours.',
  ],
  parse: (flags) => ({
    heads: intFlag(flags, 'heads', 8),
    dim: intFlag(flags, 'dim', 64),
    batch: intFlag(flags, 'batch', 1),
    features: intFlag(flags, 'features', 256),
    kernel: kernelFlag(flags),
    projection: projectionFlag(flags),
    prefill: intFlag(flags, 'prefill', 4096),
    window: windowOf(flags),
    peers: peerOptions(flags),
  }),
  async run(ctx, { heads, dim, batch, features, kernel, projection, prefill, window, peers }) {
    if (peers.peers && (kernel !== 'softmax' || window > 0)) throw new Error('--peers: the decoding peers compute plain causal FAVOR+ (--kernel softmax, no --window)');
    const attn = new FavorAttention({ dim, features, kernel, projection, seed: 0, causal: true, window });
    const M = attn.featureCount;
    const count = batch * heads;
    const dec = attn.decoder({ batch, heads });
    const plainDec = window > 0 ? new FavorAttention({ dim, features, kernel, projection, seed: 0, causal: true }).decoder({ batch, heads }) : undefined;
    const denseDec = projection === 'orthogonal' ? null : new FavorAttention({ dim, features, kernel, seed: 0, causal: true, window }).decoder({ batch, heads });
    try {
      const fields = { heads, batch, d: dim, M, kernel, projection, window };
      const rows: Row[] = [];

      const width = count * dim;
      const [q, k, v] = [randn(POOL * width, 21, QK_SIGMA), randn(POOL * width, 22, QK_SIGMA), randn(POOL * width, 23, 1)];
      const tokens = Array.from({ length: POOL }, (_, i) => [q, k, v].map((a) => a.subarray(i * width, (i + 1) * width)));
      const stepOut = new Float32Array(width);
      const stepper = (d: typeof dec) => {
        let next = 0;
        return () => {
          if (d.position >= RESET_EVERY) d.reset();
          const [qt, kt, vt] = tokens[next];
          next = (next + 1) % POOL;
          d.step(qt, kt, vt, stepOut);
        };
      };
      const stepCall = stepper(dec);
      const step = ctx.measure(`decoder step heads=${heads}`, stepCall);
      const stepRow: Row = { op: 'step', tokensPerCall: batch, ...fields, ...step, usPerCall: step.medianMs * 1e3, tokensPerSecond: batch / (step.medianMs / 1e3) };
      if (plainDec) stepRow.vsPlain = 1 / (await ctx.measurePair(`plain decoder step heads=${heads}`, stepCall, stepper(plainDec))).ratio;
      if (denseDec) stepRow.vsDense = (await ctx.measurePair(`orthogonal decoder step heads=${heads}`, stepCall, stepper(denseDec))).ratio;
      rows.push(stepRow);

      const n = count * prefill * dim;
      const [pq, pk, pv] = [randn(n, 31, QK_SIGMA), randn(n, 32, QK_SIGMA), randn(n, 33, 1)];
      const prefillOut = new Float32Array(n);
      const prefiller = (d: typeof dec) => () => {
        d.reset();
        d.prefill(pq, pk, pv, prefill, prefillOut);
      };
      const pre = ctx.measure(`decoder prefill ${prefill} heads=${heads}`, prefiller(dec));
      const preRow: Row = { op: `prefill ${prefill}`, tokensPerCall: batch * prefill, ...fields, ...pre, usPerCall: pre.medianMs * 1e3,
                            tokensPerSecond: (batch * prefill) / (pre.medianMs / 1e3) };
      if (plainDec) preRow.vsPlain = 1 / (await ctx.measurePair(`plain decoder prefill heads=${heads}`, prefiller(dec), prefiller(plainDec))).ratio;
      if (denseDec) preRow.vsDense = (await ctx.measurePair(`orthogonal prefill ${prefill} heads=${heads}`, prefiller(dec), prefiller(denseDec))).ratio;
      rows.push(preRow);
      const lastOut = new Float32Array(count * dim);
      const lastPrefiller = (d: typeof dec) => () => {
        d.reset();
        d.prefill(pq, pk, pv, prefill, lastOut, { outputs: 'last' });
      };
      const last = ctx.measure(`decoder prefill ${prefill} last heads=${heads}`, lastPrefiller(dec));
      rows.push({ op: `prefill ${prefill}, last output`, tokensPerCall: batch * prefill, ...fields, ...last, usPerCall: last.medianMs * 1e3,
                  tokensPerSecond: (batch * prefill) / (last.medianMs / 1e3),
                  vsAll: (await ctx.measurePair(`prefill ${prefill} last vs every output heads=${heads}`, lastPrefiller(dec), prefiller(dec))).ratio });
      const table: Table = {
        mode: 'decode',
        title: `FavorDecoder (batch ${batch}, heads ${heads}, d = ${dim}, M = ${M}, kernel ${kernel}, projection ${projection}${window ? `, window ${window}` : ''})`,
        columns: [
          { key: 'op', label: 'call' },
          { key: 'tokensPerCall', label: 'tokens', format: String },
          { key: 'usPerCall', label: 'µs per call' },
          { key: 'tokensPerSecond', label: 'tokens/s', format: (x) => Math.round(x).toLocaleString('en-US') },
          { key: 'rme', label: '±RME', format: (x) => `±${x.toFixed(1)}%` },
          { key: 'samples', label: 'samples', format: String },
          { key: 'vsPlain', label: 'vs plain', format: (x) => `${x.toFixed(2)}×`, optional: true },
          { key: 'vsDense', label: 'vs orthogonal', format: (x) => `${x.toFixed(2)}×`, optional: true },
          { key: 'vsAll', label: 'vs every output', format: (x) => `${x.toFixed(2)}×`, optional: true },
        ],
        rows,
      };
      if (!peers.peers) return table;
      const { decodePeers } = await import('../peers/decode.ts');
      return [table, await decodePeers({ attn, batch, heads, dim, tokens, ourStep: stepCall, resetEvery: RESET_EVERY }, peers)];
    } finally {
      dec.dispose();
      plainDec?.dispose();
      denseDec?.dispose();
    }
  },
});
