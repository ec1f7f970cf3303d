// node research/compare-builds/speed.mjs <checkout A> <checkout B> [rounds] [threads]: the same public calls on two built
// checkouts (their dist/), in one process, A and B alternating call by call; per case the medians and the median of the
// paired ratios B/A. CPU=1 times process CPU instead of wall clock (steadier on a shared machine); CASES=a,b picks cases.
const [dirA, dirB, roundsArg, threadsArg] = process.argv.slice(2);
const rounds = Number(roundsArg ?? 15);
const threads = Number(threadsArg ?? 1);
const A = await import(`${dirA}/dist/index.js`);
const B = await import(`${dirB}/dist/index.js`);
if (threads > 1) { await import(`${dirA}/dist/threads/index.js`); await import(`${dirB}/dist/threads/index.js`); }
await A.init(undefined, { relaxedSimd: process.env.RELAXED === '1' ? true : false, threads });
await B.init(undefined, { relaxedSimd: process.env.RELAXED === '1' ? true : false, threads });
const randn = (n, seed, s = 0.5) => { let x = seed >>> 0; const o = new Float32Array(n); for (let i = 0; i < n; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; o[i] = s * ((x / 2 ** 32) * 2 - 1) * 1.7; } return o; };
const d = 64, L = 4096;
const sh = (heads, l = L) => ({ batch: 1, heads, queries: l, keys: l, dim: d, valueDim: d });
const data = (heads, l = L) => [randn(heads * l * d, 1), randn(heads * l * d, 2), randn(heads * l * d, 3, 1), randn(heads * l * d, 4, 1)];
const D1 = data(1), D8 = data(8), DE = data(1, 1024);
const cases = {
  'favor L4096 h1': (P) => { const a = new P.FavorAttention({ dim: d, features: 256, seed: 1 }); return () => a.forward(D1[0], D1[1], D1[2], sh(1)); },
  'favor L4096 h8': (P) => { const a = new P.FavorAttention({ dim: d, features: 256, seed: 1 }); return () => a.forward(D8[0], D8[1], D8[2], sh(8)); },
  'causal L4096 h1': (P) => { const a = new P.FavorAttention({ dim: d, features: 256, seed: 1, causal: true }); return () => a.forward(D1[0], D1[1], D1[2], sh(1)); },
  'backward L4096 h1': (P) => { const a = new P.FavorAttention({ dim: d, features: 256, seed: 1 }); return () => a.backward(D1[0], D1[1], D1[2], D1[3], sh(1)); },
  'causal backward h1': (P) => { const a = new P.FavorAttention({ dim: d, features: 256, seed: 1, causal: true }); return () => a.backward(D1[0], D1[1], D1[2], D1[3], sh(1)); },
  'hybrid w16 h1': (P) => { const a = new P.FavorAttention({ dim: d, features: 256, seed: 1, window: 16 }); return () => a.forward(D1[0], D1[1], D1[2], sh(1)); },
  'hybrid causal w16 h1': (P) => { const a = new P.FavorAttention({ dim: d, features: 256, seed: 1, window: 16, causal: true }); return () => a.forward(D1[0], D1[1], D1[2], sh(1)); },
  'decode 100 steps h8': (P) => { const a = new P.FavorAttention({ dim: d, features: 256, seed: 1, causal: true }); const dec = a.decoder({ heads: 8 }); const x = randn(8 * d, 5); dec.prefill(D8[0].subarray(0, 8 * 1024 * d), D8[1].subarray(0, 8 * 1024 * d), D8[2].subarray(0, 8 * 1024 * d), 1024); return () => { for (let i = 0; i < 100; i++) dec.step(x, x, x); }; },
  'hybrid decode 100 steps h8': (P) => { const a = new P.FavorAttention({ dim: d, features: 256, seed: 1, causal: true, window: 16 }); const dec = a.decoder({ heads: 8 }); const x = randn(8 * d, 5); dec.prefill(D8[0].subarray(0, 8 * 1024 * d), D8[1].subarray(0, 8 * 1024 * d), D8[2].subarray(0, 8 * 1024 * d), 1024); return () => { for (let i = 0; i < 100; i++) dec.step(x, x, x); }; },
  'prefill 1024 h8': (P) => { const a = new P.FavorAttention({ dim: d, features: 256, seed: 1, causal: true }); const dec = a.decoder({ heads: 8 }); return () => { dec.reset(); dec.prefill(D8[0].subarray(0, 8 * 1024 * d), D8[1].subarray(0, 8 * 1024 * d), D8[2].subarray(0, 8 * 1024 * d), 1024); }; },
  'exact L1024 h1': (P) => () => P.exactAttention(DE[0], DE[1], DE[2], sh(1, 1024)),
};
const only = process.env.CASES ? process.env.CASES.split(',') : Object.keys(cases);
const med = (xs) => { const s = xs.slice().sort((a, b) => a - b); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };
for (const name of only) {
  const fa = cases[name](A), fb = cases[name](B);
  fa(); fb(); fa(); fb();
  const ta = [], tb = [], ratios = [];
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? [['b', fb], ['a', fa]] : [['a', fa], ['b', fb]];
    const t = {};
    for (const [side, fn] of order) {
      if (process.env.CPU === '1') { const c0 = process.cpuUsage(); fn(); const c = process.cpuUsage(c0); t[side] = (c.user + c.system) / 1000; }
      else { const t0 = performance.now(); fn(); t[side] = performance.now() - t0; }
    }
    ta.push(t.a); tb.push(t.b); ratios.push(t.b / t.a);
  }
  console.log(`${name.padEnd(28)} A ${med(ta).toFixed(2).padStart(8)} ms  B ${med(tb).toFixed(2).padStart(8)} ms  B/A ${med(ratios).toFixed(3)}  (IQR ${[...ratios].sort((x, y) => x - y)[Math.floor(rounds / 4)].toFixed(3)}–${[...ratios].sort((x, y) => x - y)[Math.floor(3 * rounds / 4)].toFixed(3)})`);
}
process.exit(0);
