// Test data and comparisons. Test inputs come from their own small generator (mulberry32 + Box–Muller
// in float64), independent of the library's RNG, so a change there cannot hide a bug here.

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n samples of N(0, sigma²) as float32. */
export function randn(n: number, seed: number, sigma = 1): Float32Array {
  const u = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = Math.sqrt(-2 * Math.log(1 - u()));
    out[i] = sigma * r * Math.cos(2 * Math.PI * u());
  }
  return out;
}

/** n samples uniform in [lo, hi) as float32. */
export function uniform(n: number, seed: number, lo: number, hi: number): Float32Array {
  const u = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * u();
  return out;
}

/** ‖a − b‖ / ‖b‖ (Frobenius), in float64. b is the reference. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

export function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

/** FNV-1a over the bytes of a typed array: a checksum of bits. */
export function checksum(a: ArrayBufferView): string {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

/** Sizes of a [batch, heads, seq, ·] problem. */
export interface ProblemShape { batch: number; heads: number; queries: number; keys: number; dim: number; valueDim: number }

/** q, k ~ N(0, sigma²), v ~ N(0, 1) and an upstream gradient dOut ~ N(0, 1), from seeds seed … seed + 3. */
export function attentionInputs(s: ProblemShape, seed: number, sigma = 0.5) {
  const bh = s.batch * s.heads;
  return {
    q: randn(bh * s.queries * s.dim, seed, sigma),
    k: randn(bh * s.keys * s.dim, seed + 1, sigma),
    v: randn(bh * s.keys * s.valueDim, seed + 2),
    dOut: randn(bh * s.queries * s.valueDim, seed + 3),
  };
}
