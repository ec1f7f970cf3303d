// A training step's attention: forward + backward of FAVOR+ (bidirectional and causal) and of exact
// attention (exactAttention + exactAttentionBackward), the cost of the backward pass relative to the
// forward pass, and FAVOR+'s speedup over exact attention — the paper's speed figure, on this machine.
import { QK_SIGMA, randn } from '../data.ts';
import { defineMode, exactMaxFlag, favorFlags, shapeFlags } from '../mode.ts';
import type { Charted, Series } from '../svg.ts';
import { prefixed, type Row, type Table } from '../table.ts';
import { exactAttention, exactAttentionBackward, FavorAttention } from 'performer-wasm';
import { attentionOptions, exactTimed } from './favor.ts';

/** The four methods, named as the --svg time chart names them (same colours). */
const METHODS = [
  { name: 'FAVOR+ bidirectional', favor: true, causal: false },
  { name: 'FAVOR+ causal', favor: true, causal: true },
  { name: 'exact', favor: false, causal: false },
  { name: 'exact causal', favor: false, causal: true },
] as const;

export const train = defineMode({
  name: 'train',
  summary: 'forward + backward ms of FAVOR+ (bidirectional, causal) and exact attention, (fwd+bwd)/fwd, speedup over exact',
  flags: { ...shapeFlags, ...favorFlags, ...exactMaxFlag },
  notes: [
    'Defaults: --seq 256,1024,4096 --heads 1,8 --dim 64 --features 256 --kernel softmax --batch 1 --exact-max 16384.',
    'fwd = forward (FavorAttention.forward, exactAttention); fwd+bwd = forward then backward (FavorAttention.backward,',
    '  exactAttentionBackward) with dOut ~ N(0, 1), as in a training step; both through the public API with preallocated',
    '  out buffers. ratio = fwd+bwd / fwd. speedup = exact fwd+bwd / FAVOR+ fwd+bwd, causal against exact causal.',
    '  Backward passes run on one thread (forward passes use the --threads pool when there is one).',
    `q, k ~ N(0, ${QK_SIGMA}²), v ~ N(0, 1); both FAVOR+ instances share the seed 0 projection (--projection; the backward`,
    '  pass of a structured projection uses its materialized matrix). --svg: fwd+bwd ms against L.',
  ],
  parse: (flags) => attentionOptions(flags, [256, 1024, 4096], [1, 8]),
  run(ctx, { seq, heads, dim, batch, features, kernel, projection, exactMax }) {
    const favor = {
      bidir: new FavorAttention({ dim, features, kernel, projection, seed: 0 }),
      causal: new FavorAttention({ dim, features, kernel, projection, seed: 0, causal: true }),
    };
    const M = favor.bidir.featureCount;
    const maxHeads = Math.max(...heads);
    const rows: Row[] = [];
    for (const L of seq) {
      const n = batch * maxHeads * L * dim;
      const [q, k, v, dOut] = [randn(n, 11, QK_SIGMA), randn(n, 12, QK_SIGMA), randn(n, 13, 1), randn(n, 14, 1)];
      const out = new Float32Array(n);
      const grads = { dq: new Float32Array(n), dk: new Float32Array(n), dv: new Float32Array(n) };
      for (const h of heads) {
        const len = batch * h * L * dim;
        const [qs, ks, vs, ds, os] = [q, k, v, dOut, out].map((a) => a.subarray(0, len));
        const g = { dq: grads.dq.subarray(0, len), dk: grads.dk.subarray(0, len), dv: grads.dv.subarray(0, len) };
        const shape = { batch, heads: h, queries: L, dim };
        const byMethod = new Map<string, Row>();
        for (const method of METHODS) {
          const fields: Row = { method: method.name, L, heads: h, batch, d: dim, ...(method.favor ? { M, kernel } : {}) };
          let forward: () => void;
          let backward: () => void;
          if (method.favor) {
            const attn = method.causal ? favor.causal : favor.bidir;
            forward = () => attn.forward(qs, ks, vs, shape, { out: os });
            backward = () => attn.backward(qs, ks, vs, ds, shape, { out: g });
          } else {
            if (!exactTimed(batch, h, L, exactMax)) {
              rows.push(fields);
              continue;
            }
            const causal = method.causal;
            forward = () => exactAttention(qs, ks, vs, shape, { causal, out: os });
            backward = () => exactAttentionBackward(qs, ks, vs, ds, shape, { causal, out: g });
          }
          const label = `${method.name} L=${L} heads=${h}`;
          const tf = ctx.measure(`${label} fwd`, forward);
          const tt = ctx.measure(`${label} fwd+bwd`, () => {
            forward();
            backward();
          });
          const row: Row = { ...fields, ...prefixed(tf, 'fwd'), ...prefixed(tt, 'step'), ratio: tt.medianMs / tf.medianMs };
          byMethod.set(method.name, row);
          rows.push(row);
        }
        for (const causal of [false, true]) {
          const f = byMethod.get(causal ? 'FAVOR+ causal' : 'FAVOR+ bidirectional');
          const e = byMethod.get(causal ? 'exact causal' : 'exact');
          if (f && e) {
            f.speedup = (e.stepMedianMs as number) / (f.stepMedianMs as number);
            f.fwdSpeedup = (e.fwdMedianMs as number) / (f.fwdMedianMs as number);
          }
        }
      }
    }
    const series: Series[] = [];
    const least = Math.min(...heads);
    for (const method of METHODS) {
      for (const h of heads) {
        const points = rows
          .filter((r) => r.method === method.name && r.heads === h && typeof r.stepMedianMs === 'number')
          .map((r) => [r.L as number, r.stepMedianMs as number] as [number, number]);
        if (!points.length) continue;
        series.push({
          name: heads.length > 1 ? `${method.name}, ${h} head${h > 1 ? 's' : ''}` : method.name,
          group: method.name,
          style: h === least ? 'solid' : 'dashed',
          points,
        });
      }
    }
    const table: Table & Charted = {
      mode: 'train',
      title: `Forward + backward: FAVOR+ vs exact attention (d = ${dim}, M = ${M}, kernel ${kernel}, batch ${batch})`,
      columns: [
        { key: 'method', label: 'method' },
        { key: 'L', label: 'L', format: String },
        { key: 'heads', label: 'heads', format: String },
        { key: 'fwdMedianMs', label: 'fwd ms' },
        { key: 'stepMedianMs', label: 'fwd+bwd ms' },
        { key: 'stepRme', label: '±RME', format: (x) => `±${x.toFixed(1)}%` },
        { key: 'ratio', label: '(fwd+bwd)/fwd', format: (x) => x.toFixed(2) },
        { key: 'speedup', label: 'speedup vs exact', format: (x) => `${x >= 10 ? x.toFixed(1) : x.toFixed(2)}×` },
      ],
      rows,
      charts: [{
        id: 'train',
        title: 'Training step attention: forward + backward time against L',
        subtitle: `d = ${dim}, M = ${M} features, kernel ${kernel}, batch ${batch}; median of forward then backward`,
        xLabel: 'sequence length L',
        yLabel: 'forward + backward time (ms)',
        series,
      }],
    };
    return table;
  },
});
