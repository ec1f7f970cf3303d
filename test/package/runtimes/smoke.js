// The runtime smoke: one workload, run unchanged in Node, Chromium (page and Web Worker), Deno, Bun and
// workerd, each importing the built package by its name. With the baseline SIMD build and inputs made
// by integer arithmetic only (no Math.sin / Math.exp, whose last bits may differ between engines), every
// runtime must produce the same output bits, so the same FNV-1a checksum.
import { exactAttention, FavorAttention, init } from 'performer-wasm';

export const KERNELS = ['softmax', 'softmax-hyperbolic', 'softmax-trig', 'relu', 'elu1', 'exp', 'abs', 'gelu'];

/** FNV-1a (32-bit) over bytes, continuing from `hash`. */
export function fnv1a(bytes, hash = 0x811c9dc5) {
  for (let i = 0; i < bytes.length; i++) hash = Math.imul(hash ^ bytes[i], 0x01000193) >>> 0;
  return hash;
}

export function bytesOf(array) {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

export const hex = (h) => h.toString(16).padStart(8, '0');

/** A 32-bit integer PRNG (mulberry32): Math.imul, shifts and xors only. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** n floats in [-scale, scale): 24 random bits over 2^23, exact in float32. */
export function uniform(n, seed, scale) {
  const next = prng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = ((next() >>> 8) / 8388608 - 1) * scale;
  return out;
}

/** Which runtime this is, for the report (the test also asks each binary for its version). */
function runtimeName() {
  const g = globalThis;
  if (g.Deno?.version) return `deno ${g.Deno.version.deno}`;
  if (g.Bun?.version) return `bun ${g.Bun.version}`;
  if (g.navigator?.userAgent === 'Cloudflare-Workers') return 'workerd';
  if (g.process?.versions?.node && !g.navigator?.userAgent?.includes('Chrome/')) return `node ${g.process.versions.node}`;
  const chrome = g.navigator?.userAgent?.match(/(?:Headless)?Chrome\/[\d.]+/);
  if (chrome) return `${chrome[0]}${typeof g.document === 'undefined' ? ' (worker)' : ''}`;
  return g.navigator?.userAgent ?? 'unknown';
}

/**
 * Runs the workload; resolves to { checksum, parts: { name: checksum }, runtime, count } where checksum
 * covers every output byte in order. `parts` tells which computation differs when checksums do not match.
 * `initOptions` are added to init's (the bundler apps ask for threads: test/package/bundlers/app/src/workload.js).
 */
export async function runSmoke(initOptions = {}) {
  await init(undefined, { relaxedSimd: false, ...initOptions });
  const parts = {};
  let total = 0x811c9dc5;
  const add = (name, array) => {
    const bytes = bytesOf(array);
    parts[name] = hex(fnv1a(bytes));
    total = fnv1a(bytes, total);
  };

  // batch 2, heads 2, 37 tokens (chunks of 16: two full, one partial), d = 16, m = 24, dv = 12
  const [batch, heads, L, dim, valueDim, features] = [2, 2, 37, 16, 12, 24];
  const shape = { batch, heads, queries: L, dim, valueDim };
  const q = uniform(batch * heads * L * dim, 1, 0.75);
  const k = uniform(batch * heads * L * dim, 2, 0.75);
  const v = uniform(batch * heads * L * valueDim, 3, 1);
  const keyMask = new Uint8Array(batch * L);
  for (let i = 0; i < keyMask.length; i++) keyMask[i] = i % 5 === 3 ? 0 : 1;

  for (const [index, kernel] of KERNELS.entries()) {
    const options = { dim, features, kernel, seed: 11 + index, chunkSize: 16 };
    const bidirectional = new FavorAttention(options);
    add(`${kernel}/projection`, bidirectional.projection);
    add(`${kernel}/bidirectional`, bidirectional.forward(q, k, v, shape));
    add(`${kernel}/masked`, bidirectional.forward(q, k, v, shape, { keyMask }));
    const causal = new FavorAttention({ ...options, causal: true });
    add(`${kernel}/causal`, causal.forward(q, k, v, shape));
  }

  // exact attention, bidirectional and causal
  add('exact/bidirectional', exactAttention(q, k, v, shape, { keyMask }));
  add('exact/causal', exactAttention(q, k, v, shape, { causal: true }));

  // the decoder: prefill 20 tokens, then 4 steps, save, resume, one more step
  const attn = new FavorAttention({ dim, features, kernel: 'softmax', causal: true, seed: 5 });
  const decoder = attn.decoder({ batch: 1, heads, valueDim });
  const prompt = 20;
  add('decoder/prefill', decoder.prefill(
    uniform(heads * prompt * dim, 21, 0.75), uniform(heads * prompt * dim, 22, 0.75), uniform(heads * prompt * valueDim, 23, 1), prompt));
  for (let t = 0; t < 4; t++) {
    add(`decoder/step${t}`, decoder.step(uniform(heads * dim, 30 + t, 0.75), uniform(heads * dim, 40 + t, 0.75), uniform(heads * valueDim, 50 + t, 1)));
  }
  const state = decoder.saveState();
  add('decoder/state', state);
  const resumed = attn.decoderFromState(state);
  add('decoder/resumed', resumed.step(uniform(heads * dim, 60, 0.75), uniform(heads * dim, 61, 0.75), uniform(heads * valueDim, 62, 1)));

  return { checksum: hex(total), parts, runtime: runtimeName(), count: Object.keys(parts).length };
}
