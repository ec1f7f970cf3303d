// A float64 study of real heads (docs/accuracy-data.md): per head, on its held-out sequences, the relative
// Frobenius error against exact softmax attention of mean(V), of plain FAVOR+ (positive features, orthogonal
// projection, the float64 reference of test/reference/favor.ts) with and without key centring, and of the
// hybrid estimator (exact exp(q̂·k̂) for |i − j| ≤ w, none for w = 0, FAVOR+ for every other key, one normalizer;
// docs/design.md §1b) at a few windows. Errors are mean over projection seeds of sqrt(Σ‖out − exact‖² / Σ‖exact‖²).
//
//   node --import tsx research/real-models/study-heads.ts --data test/data/heads [--features 256] [--seeds 3]
//     [--windows 4,8,16]
import { parseArgs } from 'node:util';
import { centered, readHeads, type HeadSequence } from '../../bench/heads.ts';
import { FavorAttention, init } from '../../src/index.ts';
import { featureVector } from '../../test/reference/favor.ts';

const { values: flags } = parseArgs({
  options: {
    data: { type: 'string', default: 'test/data/heads' },
    features: { type: 'string', default: '256' },
    seeds: { type: 'string', default: '3' },
    windows: { type: 'string', default: '4,8,16' },
  },
});
const m = Number(flags.features);
const seeds = Number(flags.seeds);
const windows = flags.windows!.split(',').map(Number);

/**
 * Float64 attention output of one sequence with the weights A_ij = exp(q̂_i·k̂_j) inside the window |i − j| ≤ w
 * (w < 0: none) and φ(q_i)ᵀφ(k_j) outside it (w ≥ n: exact attention; phi null: no estimate, exact everywhere).
 */
function hybrid(s: HeadSequence, k: Float32Array, dim: number, w: number, phi: ((x: Float32Array) => Float64Array) | null): Float64Array {
  const { length: n, q, v } = s;
  const dv = v.length / n;
  const fq = phi ? Array.from({ length: n }, (_, i) => phi(q.subarray(i * dim, (i + 1) * dim))) : [];
  const fk = phi ? Array.from({ length: n }, (_, j) => phi(k.subarray(j * dim, (j + 1) * dim))) : [];
  const out = new Float64Array(n * dv);
  const scale = 1 / Math.sqrt(dim);
  for (let i = 0; i < n; i++) {
    let den = 0;
    for (let j = 0; j < n; j++) {
      let a: number;
      if (!phi || Math.abs(i - j) <= w) {
        let dot = 0;
        for (let t = 0; t < dim; t++) dot += q[i * dim + t] * k[j * dim + t];
        a = Math.exp(dot * scale);
      } else {
        a = 0;
        for (let r = 0; r < fq[i].length; r++) a += fq[i][r] * fk[j][r];
      }
      den += a;
      for (let t = 0; t < dv; t++) out[i * dv + t] += a * v[j * dv + t];
    }
    for (let t = 0; t < dv; t++) out[i * dv + t] /= den;
  }
  return out;
}

function meanV(s: HeadSequence): Float64Array {
  const dv = s.v.length / s.length;
  const avg = new Float64Array(dv);
  for (let j = 0; j < s.length; j++) for (let t = 0; t < dv; t++) avg[t] += s.v[j * dv + t] / s.length;
  const out = new Float64Array(s.v.length);
  for (let i = 0; i < s.length; i++) out.set(avg, i * dv);
  return out;
}

await init();
const data = readHeads(flags.data!);
const header = ['head', 'L', 'max‖q̂+k̂‖²', 'c. max', 'mean(V)', `FAVOR+ m${m}`, 'centred', ...windows.map((w) => `w${w}+c.`)];
console.log(`${data.model}: held-out sequences; FAVOR+ = positive orthogonal features, m = ${m}, mean of ${seeds} seeds`);
console.log(header.join('\t'));
for (const head of data.heads) {
  const held = head.sequences.filter((s) => s.split === 'held-out');
  const exact = held.map((s) => hybrid(s, s.k, head.dim, 0, null));
  const error = (outs: Float64Array[]) => {
    let num = 0;
    let den = 0;
    outs.forEach((o, i) => o.forEach((x, t) => [num, den] = [num + (x - exact[i][t]) ** 2, den + exact[i][t] ** 2]));
    return Math.sqrt(num / den);
  };
  const spread = (c: boolean) => Math.max(...held.map((s) => maxSumNorm(s, c ? centered(s.k, head.dim) : s.k, head.dim)));
  const rows = { plain: 0, centred: 0, windows: windows.map(() => 0) };
  for (let seed = 0; seed < seeds; seed++) {
    const w = new FavorAttention({ dim: head.dim, features: m, projection: 'orthogonal', seed }).projection;
    const phi = (x: Float32Array) => featureVector({ kernel: 'softmax', dim: head.dim, w }, x);
    rows.plain += error(held.map((s) => hybrid(s, s.k, head.dim, -1, phi))) / seeds;
    rows.centred += error(held.map((s) => hybrid(s, centered(s.k, head.dim), head.dim, -1, phi))) / seeds;
    windows.forEach((win, i) => (rows.windows[i] += error(held.map((s) => hybrid(s, centered(s.k, head.dim), head.dim, win === 0 ? -1 : win, phi))) / seeds));
  }
  const f = (x: number) => x.toFixed(3);
  console.log([head.name, held.map((s) => s.length).join('/'), spread(false).toFixed(0), spread(true).toFixed(0), f(error(held.map(meanV))), f(rows.plain), f(rows.centred), ...rows.windows.map(f)].join('\t'));
}

/** max over query/key pairs of ‖q̂ + k̂‖² (x̂ = x·dim^(−1/4)): the positive estimator's variance grows like its exponential. */
function maxSumNorm(s: HeadSequence, k: Float32Array, dim: number): number {
  let best = 0;
  const scale = 1 / Math.sqrt(dim);
  for (let i = 0; i < s.length; i++) {
    for (let j = 0; j < s.length; j++) {
      let sq = 0;
      for (let t = 0; t < dim; t++) sq += (s.q[i * dim + t] + k[j * dim + t]) ** 2;
      best = Math.max(best, sq * scale);
    }
  }
  return best;
}
