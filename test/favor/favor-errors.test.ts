// FavorAttention and its decoder: bad input gets a typed error before any work, the caller's out
// buffer stays untouched, and the instance keeps working; extreme inputs stay finite.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import { FavorAttention } from '../../src/index.ts';
import { allFinite, randn, relError } from '../support/data.ts';
import { throwsCode } from '../support/expect.ts';
import { favorReference } from '../reference/favor.ts';

const shape = { batch: 2, heads: 2, queries: 9, keys: 7, dim: 4, valueDim: 3 };
const q = randn(2 * 2 * 9 * 4, 1, 0.5);
const k = randn(2 * 2 * 7 * 4, 2, 0.5);
const v = randn(2 * 2 * 7 * 3, 3);
const OUT = 2 * 2 * 9 * 3;

test('constructor: every option is checked', () => {
  throwsCode(() => new FavorAttention(undefined as never), 'INVALID_TYPE');
  throwsCode(() => new FavorAttention({ dim: 0 }), 'INVALID_SIZE');
  throwsCode(() => new FavorAttention({ dim: 2.5 }), 'INVALID_SIZE');
  throwsCode(() => new FavorAttention({ dim: 4, features: 0 }), 'INVALID_SIZE');
  throwsCode(() => new FavorAttention({ dim: 4, features: -3 }), 'INVALID_SIZE');
  throwsCode(() => new FavorAttention({ dim: 4, features: NaN }), 'INVALID_SIZE');
  // only undefined means "the default": null is a mistake, as in shapes
  throwsCode(() => new FavorAttention({ dim: 4, features: null as never }), 'INVALID_SIZE');
  throwsCode(() => new FavorAttention({ dim: 4, seed: null as never }), 'INVALID_OPTION');
  throwsCode(() => new FavorAttention({ dim: 4, chunkSize: null as never }), 'INVALID_SIZE');
  throwsCode(() => new FavorAttention({ dim: 4, projection: null as never }), 'INVALID_TYPE');
  throwsCode(() => new FavorAttention({ dim: 4, kernel: 'softmax2' as never }), 'INVALID_OPTION');
  throwsCode(() => new FavorAttention({ dim: 4, projection: 'qr' as never }), 'INVALID_OPTION');
  throwsCode(() => new FavorAttention({ dim: 4, projection: 'none' }), 'INVALID_OPTION'); // softmax needs random features
  throwsCode(() => new FavorAttention({ dim: 4, kernel: 'relu', projection: 'none', features: 8 }), 'INVALID_OPTION');
  throwsCode(() => new FavorAttention({ dim: 4, norms: 'unit' as never }), 'INVALID_OPTION');
  throwsCode(() => new FavorAttention({ dim: 4, seed: -1 }), 'INVALID_OPTION');
  throwsCode(() => new FavorAttention({ dim: 4, seed: 1.5 }), 'INVALID_OPTION');
  throwsCode(() => new FavorAttention({ dim: 4, causal: 1 as never }), 'INVALID_OPTION');
  throwsCode(() => new FavorAttention({ dim: 4, epsilon: -1 }), 'INVALID_OPTION');
  throwsCode(() => new FavorAttention({ dim: 4, epsilon: Infinity }), 'INVALID_OPTION');
  throwsCode(() => new FavorAttention({ dim: 4, chunkSize: 0 }), 'INVALID_SIZE');
  throwsCode(() => new FavorAttention({ dim: 4, featurs: 8 } as never), 'UNKNOWN_OPTION');
  // an explicit projection: right type, a multiple of dim, features agreeing, finite
  throwsCode(() => new FavorAttention({ dim: 4, projection: [1, 2, 3, 4] as never }), 'INVALID_TYPE');
  throwsCode(() => new FavorAttention({ dim: 4, projection: new Float32Array(10) }), 'INVALID_LENGTH');
  throwsCode(() => new FavorAttention({ dim: 4, features: 3, projection: new Float32Array(8) }), 'INVALID_LENGTH');
  throwsCode(() => new FavorAttention({ dim: 4, projection: new Float32Array(8).fill(NaN) }), 'NON_FINITE');
});

test('forward: each bad input has its code, out stays untouched, and the next call is right', () => {
  const attn = new FavorAttention({ dim: 4, features: 6, seed: 1 });
  const reference = favorReference({ kernel: 'softmax', dim: 4, w: attn.projection }, q, k, v, shape);
  const out = new Float32Array(OUT).fill(7);
  const untouched = () => assert.ok(out.every((x) => x === 7), 'out was written');
  const nan = q.slice();
  nan[5] = NaN;
  const inf = k.slice();
  inf[0] = -Infinity;
  const cases: [() => unknown, string][] = [
    [() => attn.forward(q.subarray(1), k, v, shape, { out }), 'INVALID_LENGTH'],
    [() => attn.forward(q, k, v.subarray(1), shape, { out }), 'INVALID_LENGTH'],
    [() => attn.forward(q, k, v, shape, { out: new Float32Array(OUT + 1) }), 'INVALID_LENGTH'],
    [() => attn.forward(Array.from(q) as never, k, v, shape, { out }), 'INVALID_TYPE'],
    [() => attn.forward(q, new Float64Array(k) as never, v, shape, { out }), 'INVALID_TYPE'],
    [() => attn.forward(q, k, v, { ...shape, queries: 0 }, { out }), 'INVALID_SIZE'],
    [() => attn.forward(q, k, v, { ...shape, heads: 1.5 }, { out }), 'INVALID_SIZE'],
    [() => attn.forward(q, k, v, { ...shape, keys: NaN }, { out }), 'INVALID_SIZE'],
    [() => attn.forward(q, k, v, { ...shape, dim: 5 }, { out }), 'INVALID_SIZE'],
    [() => attn.forward(nan, k, v, shape, { out }), 'NON_FINITE'],
    [() => attn.forward(q, inf, v, shape, { out }), 'NON_FINITE'],
    [() => attn.forward(q, k, v, shape, { out, keyMask: new Uint8Array(13) }), 'INVALID_LENGTH'],
    [() => attn.forward(q, k, v, shape, { out, keyMask: new Int8Array(14) as never }), 'INVALID_TYPE'],
    [() => attn.forward(q, k, v, { ...shape, seq: 9 } as never, { out }), 'UNKNOWN_OPTION'],
    [() => attn.forward(q, k, v, shape, { out, causal: true } as never), 'UNKNOWN_OPTION'],
    [() => attn.forward(q, k, v, shape, { out: q } as never), 'INVALID_LENGTH'],
  ];
  for (const [call, code] of cases) {
    throwsCode(call, code as never);
    untouched();
    const again = attn.forward(q, k, v, shape);
    assert.ok(relError(again, reference) <= 1e-5, `after ${code}`);
  }
});

test('decoder: bad input has its code and the state does not move', () => {
  const attn = new FavorAttention({ dim: 4, features: 6, seed: 1, causal: true });
  throwsCode(() => attn.decoder({ heads: 0 }), 'INVALID_SIZE');
  throwsCode(() => attn.decoder({ head: 2 } as never), 'UNKNOWN_OPTION');
  const dec = attn.decoder({ heads: 2, valueDim: 3 });
  const [q1, k1, v1] = [randn(8, 1), randn(8, 2), randn(6, 3)];
  throwsCode(() => dec.step(q1.subarray(1), k1, v1), 'INVALID_LENGTH');
  throwsCode(() => dec.step(q1, k1, new Float32Array(6).fill(Infinity)), 'NON_FINITE');
  throwsCode(() => dec.prefill(q1, k1, v1, 0), 'INVALID_SIZE');
  throwsCode(() => dec.prefill(q1, k1, v1, 2), 'INVALID_LENGTH');
  assert.is(dec.position, 0);
  const first = dec.step(q1, k1, v1);
  assert.ok(allFinite(first));
  assert.is(dec.position, 1);
  dec.dispose();
  throwsCode(() => dec.step(q1, k1, v1), 'INVALID_STATE');
});

test('redraw: a new matrix, reproducible, nothing else changes', () => {
  const attn = new FavorAttention({ dim: 4, features: 6, seed: 1 });
  const w1 = attn.projection;
  attn.redraw();
  assert.is(attn.seed, 2);
  const w2 = attn.projection;
  assert.not.equal(Array.from(w2), Array.from(w1));
  assert.equal(Array.from(new FavorAttention({ dim: 4, features: 6, seed: 2 }).projection), Array.from(w2));
  attn.redraw(1);
  assert.equal(Array.from(attn.projection), Array.from(w1));
  assert.is(attn.featureCount, 6);
  throwsCode(() => attn.redraw(-1), 'INVALID_OPTION');
  throwsCode(() => new FavorAttention({ dim: 4, kernel: 'relu', projection: 'none' }).redraw(), 'INVALID_OPTION');
  throwsCode(() => new FavorAttention({ dim: 2, projection: new Float32Array(4) }).redraw(), 'INVALID_OPTION');
});

test('stability: query and key norms up to 1e3 give finite outputs for every kernel', () => {
  for (const kernel of ['softmax', 'softmax-hyperbolic', 'softmax-trig', 'relu', 'elu1', 'exp', 'abs', 'gelu'] as const) {
    for (const causal of [false, true]) {
      const attn = new FavorAttention({ dim: 4, features: 8, kernel, seed: 3, causal });
      for (const scale of [1e-3, 1, 30, 1e3 / 2]) { // ‖x‖ up to 1e3 (entries up to ~500·N(0,1))
        const big = (x: Float32Array) => x.map((t) => t * scale);
        const out = attn.forward(big(q), big(k), v, shape);
        assert.ok(allFinite(out), `${kernel} causal=${causal} scale ${scale}`);
      }
    }
  }
});

test('fully masked keys: zeros, never NaN (bidirectional, causal, decoder prefill)', () => {
  for (const causal of [false, true]) {
    const attn = new FavorAttention({ dim: 4, features: 6, seed: 1, causal });
    const keyMask = new Uint8Array(2 * 7).fill(1);
    keyMask.fill(0, 0, 7); // batch 0: every key masked
    const out = attn.forward(q, k, v, shape, { keyMask });
    assert.ok(out.subarray(0, 2 * 9 * 3).every((x) => x === 0), 'batch 0 is zeros');
    assert.ok(allFinite(out));
  }
});

test.run();
