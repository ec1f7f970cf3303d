// A training step of one MultiHeadAttention layer (performer-wasm/tfjs-layers) on tfjs-backend-wasm: forward +
// backward (tf.variableGrads of Σ out·dy over the layer's weights) in hybrid mode, in exact mode (the package's
// exact kernels), and with the attention written in tfjs ops (matMul, softmax: the layer's
// callAndReturnAttentionScores path, which forms the T × T weights), all with the same head projections.
// TensorFlow.js and its wasm backend are loaded when the mode runs (optional peers of the package).
import { createRequire } from 'node:module';
import path from 'node:path';
import { randn } from '../data.ts';
import { defineMode, intFlag, intList, shapeFlags, UsageError, windowFlag, windowOf, type Flag } from '../mode.ts';
import { sig3, timingColumns, type Row, type Table } from '../table.ts';

const featuresFlag: Record<string, Flag> = { features: { type: 'string', value: '<m>', help: 'random features m (FavorAttention features)' } };

export const trainLayer = defineMode({
  name: 'train-layer',
  summary: 'training step (fwd + bwd) of a MultiHeadAttention layer on tfjs-backend-wasm: hybrid vs exact vs tfjs-ops attention',
  flags: { ...shapeFlags, ...windowFlag, ...featuresFlag },
  notes: [
    'Defaults: --seq 1024,4096 --heads 8 --dim 64 --window 16 --features 64 --batch 1; model width = heads · dim.',
    'One step: out = layer.apply(x, { value: x }) (self-attention), then the gradients of Σ out·dy for every trainable',
    '  weight (tf.variableGrads), read back. hybrid: attention \'hybrid\' (window, a fixed orthogonal projection of m rows);',
    '  exact: attention \'exact\' (exactAttention kernels); tfjs ops: the exact layer\'s callAndReturnAttentionScores',
    '  (batched matMul + softmax on the T × T weights). Needs @tensorflow/tfjs-core, -layers and -backend-wasm.',
  ],
  parse: (flags) => {
    const window = windowOf(flags) || 16;
    if (flags.heads !== undefined && String(flags.heads).includes(',')) throw new UsageError('train-layer takes one --heads value');
    return { seq: intList(flags, 'seq', [1024, 4096]), heads: intFlag(flags, 'heads', 8), dim: intFlag(flags, 'dim', 64),
             batch: intFlag(flags, 'batch', 1), window, features: intFlag(flags, 'features', 64) };
  },
  async run(ctx, { seq, heads, dim, batch, window, features }) {
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-layers'); // registers the layers' gradients
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const require = createRequire(import.meta.url);
    wasm.setWasmPaths(`${path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'))}/dist/`);
    if (!(await tf.setBackend('wasm'))) throw new Error('train-layer: tf.setBackend("wasm") failed');
    const { MultiHeadAttention } = await import('performer-wasm/tfjs-layers');
    const width = heads * dim;
    const rows: Row[] = [];
    for (const L of seq) {
      const x = tf.tensor3d(randn(batch * L * width, 1), [batch, L, width]);
      const dy = tf.tensor3d(randn(batch * L * width, 2), [batch, L, width]);
      const make = (extra: object) => {
        const layer = new MultiHeadAttention({ numHeads: heads, keyDim: dim, kernelInitializer: 'glorotUniform', ...extra });
        layer.buildFromSignature([null, L, width], [null, L, width]);
        return layer;
      };
      const variants = [
        { name: 'hybrid', layer: make({ attention: 'hybrid', window, features }), scores: false },
        { name: 'exact', layer: make({}), scores: false },
        { name: 'tfjs ops', layer: make({}), scores: true },
      ];
      const medians: Record<string, number> = {};
      for (const v of variants) {
        const vars = v.layer.trainableWeights.map((w) => w.read() as import('@tensorflow/tfjs-core').Variable);
        const step = () => {
          const { value, grads } = tf.variableGrads(() => {
            const out = v.scores ? v.layer.callAndReturnAttentionScores(x, { value: x })[0] : v.layer.apply(x, { value: x }) as import('@tensorflow/tfjs-core').Tensor;
            return tf.sum(tf.mul(out, dy)) as import('@tensorflow/tfjs-core').Scalar;
          }, vars);
          Object.values(grads).forEach((g) => g.dataSync());
          tf.dispose([value, ...Object.values(grads)]);
        };
        try {
          const t = ctx.measure(`${v.name} L=${L}`, step);
          medians[v.name] = t.medianMs;
          rows.push({ L, heads, dim, variant: v.name, ...t });
          v.layer.weights.forEach((w) => w.dispose());
        } catch (error) {
          // e.g. the T × T weights of the tfjs-ops attention beyond the wasm backend's 4 GiB: its module is unusable after
          rows.push({ L, heads, dim, variant: v.name, medianMs: NaN, note: `failed: ${(error as Error).message.slice(0, 60)}` });
          break;
        }
      }
      for (const r of rows.filter((r) => r.L === L)) {
        if (r.variant !== 'hybrid' && Number.isFinite(medians[String(r.variant)])) r.vsHybrid = medians[String(r.variant)] / medians.hybrid;
      }
      tf.dispose([x, dy]);
    }
    const table: Table = {
      mode: 'train-layer',
      title: `Training step of one MultiHeadAttention layer on tfjs-backend-wasm (batch ${batch}, hybrid w ${window} m ${features})`,
      columns: [
        { key: 'L', label: 'L', format: String }, { key: 'heads', label: 'heads', format: String }, { key: 'dim', label: 'd', format: String },
        { key: 'variant', label: 'attention' }, ...timingColumns.filter((c) => c.key !== 'gflops'),
        { key: 'vsHybrid', label: '÷ hybrid', format: sig3, optional: true }, { key: 'note', label: 'note', optional: true },
      ],
      rows,
    };
    return table;
  },
});
