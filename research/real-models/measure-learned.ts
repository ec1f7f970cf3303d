// Figures of docs/learned-feature-maps.md: the cost of the projection gradient (backward with and without
// projectionGradient, paired medians, bench/timing.ts measurePair) and the time of fitFeatureMap per window-step.
//   node --import tsx research/real-models/measure-learned.ts
import { fitFeatureMap, FavorAttention, initSync } from '../../src/index.ts';
import { measurePair } from '../../bench/timing.ts';
import { randn } from '../../bench/data.ts';

initSync(undefined, { relaxedSimd: false });
const d = 64;
for (const kernel of ['softmax', 'softmax-hyperbolic-normalized'] as const) {
  for (const causal of [false, true]) {
    const L = 4096;
    const attn = new FavorAttention({ dim: d, features: 256, kernel, causal, seed: 0 });
    const [q, k, v, dOut] = [randn(L * d, 1, 0.5), randn(L * d, 2, 0.5), randn(L * d, 3), randn(L * d, 4)];
    const shape = { queries: L, dim: d };
    const g = { dq: new Float32Array(L * d), dk: new Float32Array(L * d), dv: new Float32Array(L * d) };
    const gw = { ...g, dW: new Float32Array(256 * d) };
    const r = await measurePair(() => { attn.backward(q, k, v, dOut, shape, { out: g }); },
                                () => { attn.backward(q, k, v, dOut, shape, { out: gw, projectionGradient: true }); }, 3);
    console.log(`backward ${kernel} ${causal ? 'causal' : 'bidirectional'} L ${L} d ${d} m 256: ${r.ours.medianMs.toFixed(1)} ms, ` +
                `with dW ${r.other.medianMs.toFixed(1)} ms, paired ratio ${r.ratio.toFixed(3)} (${r.ours.samples} pairs)`);
  }
}
{
  // the normalized map's extra row statistics (two log-sum-exps) against the hyperbolic map's, forward
  const L = 4096;
  const [q, k, v] = [randn(L * d, 1, 0.5), randn(L * d, 2, 0.5), randn(L * d, 3)];
  const out = new Float32Array(L * d);
  for (const causal of [false, true]) {
    const [hyp, norm] = (['softmax-hyperbolic', 'softmax-hyperbolic-normalized'] as const).map((kernel) => new FavorAttention({ dim: d, features: 256, kernel, causal }));
    const r = await measurePair(() => { hyp.forward(q, k, v, { queries: L, dim: d }, { out }); }, () => { norm.forward(q, k, v, { queries: L, dim: d }, { out }); }, 3);
    console.log(`forward ${causal ? 'causal' : 'bidirectional'} L ${L} d ${d} m 256: hyperbolic ${r.ours.medianMs.toFixed(1)} ms, normalized ${r.other.medianMs.toFixed(1)} ms, paired ratio ${r.ratio.toFixed(3)}`);
  }
}
for (const [m, batchSize] of [[64, 16], [128, 16]]) {
  const L = 128;
  const samples = Array.from({ length: 32 }, (_, i) => ({ q: randn(L * d, i, 0.5), k: randn(L * d, i + 100, 0.5), length: L }));
  const steps = 20;
  const t = performance.now();
  fitFeatureMap(samples, { dim: d, features: m, steps, batchSize, evalEvery: steps });
  const ms = (performance.now() - t) / ((steps + 1) * batchSize);
  console.log(`fitFeatureMap L ${L} d ${d} m ${m} (M ${2 * m}): ${ms.toFixed(2)} ms per window-step (500 steps × ${batchSize} windows ≈ ${(ms * 500 * batchSize / 1e3).toFixed(0)} s)`);
}
