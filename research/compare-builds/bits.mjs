// node research/compare-builds/bits.mjs <checkout> [threads] > out.txt: one line per case (a hash of the outputs) over the public
// passes: every kernel, projection, mask, window, β, centring, the decoder and prefill, backward, exact; diff two runs.
const dir = process.argv[2];
const threads = Number(process.argv[3] ?? 1);
const P = await import(`${dir}/dist/index.js`);
if (threads > 1) await import(`${dir}/dist/threads/index.js`);
await P.init(undefined, { relaxedSimd: false, threads });
function randn(n, seed, scale = 1) {
  let s = seed >>> 0 || 1; const out = new Float32Array(n);
  for (let i = 0; i < n; i++) { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; const u1 = (s + 1) / 4294967297; s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; const u2 = s / 4294967296; out[i] = scale * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2); }
  return out;
}
function hash(...arrays) { let h = 0x811c9dc5; for (const a of arrays) { if (!a) continue; const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength); for (const x of b) { h ^= x; h = Math.imul(h, 0x01000193) >>> 0; } } return h.toString(16).padStart(8, '0'); }
const lines = [];
const add = (name, fn) => { try { lines.push(`${name} ${fn()}`); } catch (e) { lines.push(`${name} ERROR ${e.code ?? ''} ${e.message.split('\n')[0]}`); } };
const shapes = [
  { batch: 1, heads: 1, queries: 1, keys: 1, dim: 1, valueDim: 1 },
  { batch: 2, heads: 3, queries: 37, keys: 53, dim: 7, valueDim: 5 },
  { batch: 1, heads: 2, queries: 300, keys: 300, dim: 16, valueDim: 16 },
  { batch: 1, heads: 1, queries: 70, keys: 45, dim: 8, valueDim: 3 },
  { batch: 1, heads: 2, queries: 2500, keys: 2600, dim: 16, valueDim: 8 },
];
const kernels = ['softmax', 'softmax-hyperbolic', 'softmax-trig', 'relu', 'softmax-hyperbolic-normalized', 'exp'];
for (const [si, s] of shapes.entries()) {
  const n = s.batch * s.heads;
  const q = randn(n * s.queries * s.dim, 1 + si, 0.5), k = randn(n * s.keys * s.dim, 2 + si, 0.5), v = randn(n * s.keys * s.valueDim, 3 + si);
  const dOut = randn(n * s.queries * s.valueDim, 4 + si);
  const keyMask = new Uint8Array(s.batch * s.keys).map((_, i) => (i % 5 === 2 ? 0 : 1));
  for (const kernel of kernels) for (const causal of [false, true]) for (const masked of [false, true]) {
    const features = 13 + si;
    const attn = new P.FavorAttention({ dim: s.dim, features, kernel, causal, seed: 3, chunkSize: 16 });
    const o = masked ? { keyMask } : {};
    add(`s${si} ${kernel} causal=${causal} mask=${masked} forward`, () => hash(attn.forward(q, k, v, s, o)));
    if (si < 4 && kernel !== 'exp') add(`s${si} ${kernel} causal=${causal} mask=${masked} backward`, () => { const g = attn.backward(q, k, v, dOut, s, o); return hash(g.dq, g.dk, g.dv); });
  }
  for (const projection of ['structured', 'none', 'iid']) for (const causal of [false, true]) {
    const dim = s.dim;
    if (projection === 'structured' && (dim & (dim - 1))) continue;
    let attn;
    try { attn = new P.FavorAttention({ dim, features: projection === 'none' ? dim : 20, projection, causal, seed: 5, chunkSize: 32, kernel: projection === 'none' ? 'relu' : 'softmax' }); } catch (e) { lines.push(`s${si} proj=${projection} ctor ERROR ${e.code}`); continue; }
    add(`s${si} proj=${projection} causal=${causal} forward`, () => hash(attn.forward(q, k, v, s)));
  }
  for (const window of [0, 1, 4]) for (const causal of [false, true]) for (const beta of [0, 0.3]) {
    const attn = new P.FavorAttention({ dim: s.dim, features: 12, causal, seed: 9, chunkSize: 16, window, estimateLogScale: beta });
    add(`s${si} window=${window} causal=${causal} beta=${beta} forward`, () => hash(attn.forward(q, k, v, s, { keyMask })));
    if (si < 4) add(`s${si} window=${window} causal=${causal} beta=${beta} backward`, () => { const g = attn.backward(q, k, v, dOut, s, { keyMask }); return hash(g.dq, g.dk, g.dv); });
  }
  {
    const attn = new P.FavorAttention({ dim: s.dim, features: 12, seed: 9, chunkSize: 16, centerKeys: true, window: 2 });
    add(`s${si} centerKeys window 2 forward`, () => hash(attn.forward(q, k, v, s)));
    const attnP = new P.FavorAttention({ dim: s.dim, features: 12, seed: 9, chunkSize: 16 });
    add(`s${si} projectionGradient`, () => { const g = attnP.backward(q, k, v, dOut, s, { projectionGradient: true }); return hash(g.dq, g.dk, g.dv, g.dW); });
  }
  for (const causal of [false, true]) {
    add(`s${si} exact causal=${causal}`, () => hash(P.exactAttention(q, k, v, s, { causal, keyMask })));
    if (si < 4) add(`s${si} exact backward causal=${causal}`, () => { const g = P.exactAttentionBackward(q, k, v, dOut, s, { causal }); return hash(g.dq, g.dk, g.dv); });
  }
  if (s.queries === s.keys || si < 2) {
    for (const window of [0, 3]) for (const kernel of ['softmax', 'softmax-hyperbolic', 'relu']) {
      if (window && kernel === 'relu') continue;
      const attn = new P.FavorAttention({ dim: s.dim, features: 11, kernel, causal: true, seed: 2, chunkSize: 16, window });
      add(`s${si} decoder ${kernel} w=${window}`, () => {
        const dec = attn.decoder({ batch: s.batch, heads: s.heads, valueDim: s.valueDim });
        const T = Math.min(s.keys, 40);
        const outs = [];
        const row = (x, dim, t) => { const r = new Float32Array(n * dim); for (let h = 0; h < n; h++) r.set(x.subarray((h * s.keys + t) * dim, (h * s.keys + t + 1) * dim), h * dim); return r; };
        const P0 = Math.min(T, 17);
        // prefill the first P0 tokens, then step
        const pq = new Float32Array(n * P0 * s.dim), pk = new Float32Array(n * P0 * s.dim), pv = new Float32Array(n * P0 * s.valueDim);
        for (let h = 0; h < n; h++) { pq.set(q.subarray(h * s.queries * s.dim, (h * s.queries + P0) * s.dim), h * P0 * s.dim); pk.set(k.subarray(h * s.keys * s.dim, (h * s.keys + P0) * s.dim), h * P0 * s.dim); pv.set(v.subarray(h * s.keys * s.valueDim, (h * s.keys + P0) * s.valueDim), h * P0 * s.valueDim); }
        outs.push(dec.prefill(pq, pk, pv, P0));
        for (let t = P0; t < T; t++) outs.push(dec.step(row(q, s.dim, t), row(k, s.dim, t), row(v, s.valueDim, t)));
        outs.push(dec.saveState());
        dec.dispose();
        return hash(...outs);
      });
    }
  }
}
console.log(lines.join('\n'));
process.exit(0);
