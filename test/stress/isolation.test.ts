// Isolation: many FavorAttention instances, decoders and exactAttention calls, interleaved in a random
// order (with calls in between that grow wasm memory), give the same results bit for bit as each
// instance's calls run alone, one instance after the other.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import { exactAttention, FavorAttention, memoryBytes, type FavorAttentionOptions, type FavorDecoder, type KernelName } from '../../src/index.ts';
import { KERNEL_NAMES } from '../../src/feature-maps/kernels.ts';
import { randn, rng } from '../support/data.ts';

const bits = (x: Float32Array) => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));

interface Plan {
  options: FavorAttentionOptions;
  shape: { batch: number; heads: number; queries: number; keys: number; dim: number; valueDim: number };
  calls: number;
}

// 16 instances: every kernel, causal and not, several dims, feature counts, chunk sizes and projections
const plans: Plan[] = KERNEL_NAMES.flatMap((kernel: KernelName, i) => [false, true].map((causal, j): Plan => {
  const dim = [3, 8, 16, 5][(i + j) % 4];
  const none = !kernel.startsWith('softmax') && j === 1 && i % 2 === 1;
  return {
    options: { dim, kernel, causal, seed: 10 * i + j, features: none ? dim : [7, 16, 33][(i + 2 * j) % 3], chunkSize: [5, 16, 64][(i + j) % 3],
               projection: none ? 'none' : (i % 3 ? 'orthogonal' : 'iid') },
    shape: { batch: 1 + (i % 2), heads: 1 + j, queries: 20 + 7 * i, keys: 17 + 5 * j + 3 * i, dim, valueDim: [2, dim, 9][(i + j) % 3] },
    calls: 4,
  };
}));

/** The inputs of call c of plan p (a mask on odd calls). */
function inputs(p: Plan, index: number, c: number) {
  const s = p.shape;
  const bh = s.batch * s.heads;
  const seed = 1000 * index + 10 * c;
  const keyMask = c % 2 ? Uint8Array.from({ length: s.batch * s.keys }, (_, i) => ((i * 5 + c) % 4 ? 1 : 0)) : undefined;
  const sigma = p.options.kernel === 'softmax-trig' ? 0.2 : 0.5;
  return { q: randn(bh * s.queries * s.dim, seed, sigma), k: randn(bh * s.keys * s.dim, seed + 1, sigma), v: randn(bh * s.keys * s.valueDim, seed + 2), keyMask };
}

test('16 FavorAttention instances, called interleaved, give the results they give alone (bit for bit)', () => {
  const alone = plans.map((p, i) => {
    const attn = new FavorAttention(p.options);
    return Array.from({ length: p.calls }, (_, c) => {
      const x = inputs(p, i, c);
      return bits(attn.forward(x.q, x.k, x.v, p.shape, { keyMask: x.keyMask }));
    });
  });
  const instances = plans.map((p) => new FavorAttention(p.options));
  const next = plans.map(() => 0);
  const u = rng(99);
  let pending = plans.reduce((n, p) => n + p.calls, 0);
  let grown = 0;
  while (pending > 0) {
    const i = Math.floor(u() * plans.length);
    if (next[i] === plans[i].calls) continue;
    const x = inputs(plans[i], i, next[i]);
    const out = instances[i].forward(x.q, x.k, x.v, plans[i].shape, { keyMask: x.keyMask });
    assert.equal(bits(out), alone[i][next[i]], `instance ${i} (${JSON.stringify(plans[i].options)}) call ${next[i]}`);
    next[i]++;
    pending--;
    if (u() < 0.1) { // exact attention in between, now and then one that grows the workspace
      const L = 50 + grown++ * 40;
      const big = randn(L * 32, grown, 0.5);
      exactAttention(big, big, big, { queries: L, dim: 32 });
    }
  }
});

test('decoders of several instances, stepped, prefilled, saved and restored interleaved, match each decoder alone', () => {
  const configs = [
    { options: { dim: 8, features: 16, seed: 1, causal: true }, dec: { batch: 2, heads: 2, valueDim: 3 } },
    { options: { dim: 4, features: 9, seed: 2, kernel: 'softmax-hyperbolic' as const }, dec: { batch: 1, heads: 3, valueDim: 4 } },
    { options: { dim: 6, features: 6, seed: 3, kernel: 'relu' as const, chunkSize: 4 }, dec: { batch: 3, heads: 1, valueDim: 6 } },
    { options: { dim: 5, kernel: 'elu1' as const, projection: 'none' as const }, dec: { batch: 1, heads: 1, valueDim: 2 } },
    { options: { dim: 8, features: 16, seed: 1, causal: true }, dec: { batch: 2, heads: 2, valueDim: 3 } }, // a twin of the first
  ];
  const STEPS = 30;
  // the script of decoder i: prefill of 3 tokens at t = 0, steps after, save + restore at t = 12
  const token = (i: number, t: number, count: number, dim: number, dv: number, n = 1) =>
    [randn(count * n * dim, 7000 + 100 * i + t, 0.5), randn(count * n * dim, 8000 + 100 * i + t, 0.5), randn(count * n * dv, 9000 + 100 * i + t)] as const;
  function play(i: number, attn: FavorAttention, dec: FavorDecoder, t: number): { out: Float32Array; dec: FavorDecoder } {
    const c = configs[i];
    const count = c.dec.batch * c.dec.heads;
    if (t === 0) {
      const [q, k, v] = token(i % 4, t, count, c.options.dim, c.dec.valueDim, 3);
      return { out: dec.prefill(q, k, v, 3), dec };
    }
    if (t === 12) {
      const bytes = dec.saveState();
      dec.dispose();
      dec = attn.decoderFromState(bytes);
    }
    const [q, k, v] = token(i % 4, t, count, c.options.dim, c.dec.valueDim);
    return { out: dec.step(q, k, v), dec };
  }
  const alone = configs.map((c, i) => {
    const attn = new FavorAttention(c.options);
    let dec = attn.decoder(c.dec);
    return Array.from({ length: STEPS }, (_, t) => {
      const r = play(i, attn, dec, t);
      dec = r.dec;
      return bits(r.out);
    });
  });
  assert.equal(alone[4], alone[0], 'twins agree');
  const attns = configs.map((c) => new FavorAttention(c.options));
  const decs = configs.map((c, i) => attns[i].decoder(c.dec));
  const t = configs.map(() => 0);
  const u = rng(5);
  const before = memoryBytes();
  let grown = 0;
  for (let done = 0; done < configs.length * STEPS;) {
    const i = Math.floor(u() * configs.length);
    if (t[i] === STEPS) continue;
    const r = play(i, attns[i], decs[i], t[i]);
    decs[i] = r.dec;
    assert.equal(bits(r.out), alone[i][t[i]], `decoder ${i}, t = ${t[i]}`);
    t[i]++;
    done++;
    if (u() < 0.15) { // other calls in between: a forward of another instance, and an exactAttention whose growing
      // workspace grows wasm memory under the live decoders (their views must follow)
      const x = randn(64 * 16, done, 0.5);
      new FavorAttention({ dim: 16, features: 32, seed: done }).forward(x, x, x, { queries: 64, dim: 16 });
      const L = 32 * ++grown;
      const y = randn(L * 512, done, 0.1);
      exactAttention(y, y, y, { queries: L, dim: 512 });
    }
  }
  assert.ok(memoryBytes() > before, 'memory grew while the decoders were live');
});

test.run();
