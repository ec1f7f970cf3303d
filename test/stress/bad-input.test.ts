// A catalogue of bad inputs: every public entry point × every class of mistake. Each row asserts the
// documented PerformerError code, that the caller's `out` buffer is untouched, that nothing moved
// (decoder state bytes, wasm memory size for refused workspaces), and that the same instance gives the
// same result, bit for bit, on the next (valid) call. The table printed at the end is the README's
// "Error codes by entry point".
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import '../support/setup.ts';
import {
  exactAttention, FavorAttention, FavorDecoder, init, initSync, memoryBytes, PerformerError, runtimeInfo, type PerformerErrorCode,
} from '../../src/index.ts';
import { randn } from '../support/data.ts';

const SENTINEL = 7;
const shape = { batch: 2, heads: 2, queries: 5, keys: 6, dim: 4, valueDim: 3 };
const BH = 4;
const q = randn(BH * 5 * 4, 1, 0.5);
const k = randn(BH * 6 * 4, 2, 0.5);
const v = randn(BH * 6 * 3, 3);
const mask = Uint8Array.from({ length: 2 * 6 }, (_, i) => (i % 4 === 1 ? 0 : 1));
const OUT = BH * 5 * 3;

const attn = new FavorAttention({ dim: 4, features: 6, seed: 1 });
const causal = new FavorAttention({ dim: 4, features: 6, seed: 1, causal: true, chunkSize: 2 });
const favorWant = attn.forward(q, k, v, shape, { keyMask: mask });
const causalWant = causal.forward(q, k, v, shape, { keyMask: mask });
const exactWant = exactAttention(q, k, v, shape, { causal: true, keyMask: mask });

// decoders: [batch 2, heads 2, valueDim 3]; one token is 16 q / k values and 12 v values
const DEC = { batch: 2, heads: 2, valueDim: 3 };
const [q1, k1, v1] = [randn(16, 11, 0.5), randn(16, 12, 0.5), randn(12, 13)];
const [qP, kP, vP] = [randn(16 * 3, 14, 0.5), randn(16 * 3, 15, 0.5), randn(12 * 3, 16)];
const seedDecoder = causal.decoder(DEC);
seedDecoder.step(q1, k1, v1);
const STATE = seedDecoder.saveState(); // position 1
const stepWant = causal.decoderFromState(STATE).step(q1, k1, v1);
const prefillWant = causal.decoderFromState(STATE).prefill(qP, kP, vP, 3);

const sentinel = (n = OUT) => new Float32Array(n).fill(SENTINEL);
const bits = (x: Float32Array) => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));
const with1 = (x: Float32Array, at: number, value: number) => { const y = x.slice(); y[at] = value; return y; };

interface Row { entry: string; klass: string; code: PerformerErrorCode }
const table: Row[] = [];

function codeOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (error) {
    if (error instanceof PerformerError) return { code: error.code, message: error.message };
    return { code: `not a PerformerError: ${String(error)}`, message: '' };
  }
  return { code: 'nothing thrown', message: '' };
}

/** The valid calls after a failure: every instance still gives its result, bit for bit. */
function stillWorks(after: string): void {
  assert.equal(bits(attn.forward(q, k, v, shape, { keyMask: mask, out: sentinel() })), bits(favorWant), `forward after ${after}`);
  assert.equal(bits(causal.forward(q, k, v, shape, { keyMask: mask })), bits(causalWant), `causal forward after ${after}`);
  assert.equal(bits(exactAttention(q, k, v, shape, { causal: true, keyMask: mask })), bits(exactWant), `exactAttention after ${after}`);
}

/**
 * One row of the catalogue. `call` receives a sentinel out buffer (of `outLength`) to pass where the
 * entry takes one; it must stay untouched.
 */
function bad(entry: string, klass: string, code: PerformerErrorCode, call: (out: Float32Array) => unknown, outLength = OUT): void {
  const out = sentinel(outLength);
  const memory = memoryBytes();
  const got = codeOf(() => call(out));
  assert.is(got.code, code, `${entry} / ${klass}: ${got.message}`);
  assert.ok(got.message.length > 0, `${entry} / ${klass}: an empty message`);
  for (let i = 0; i < out.length; i++) if (out[i] !== SENTINEL) assert.unreachable(`${entry} / ${klass}: out[${i}] was written`);
  if (code === 'OUT_OF_MEMORY') assert.is(memoryBytes(), memory, `${entry} / ${klass}: memory grew before the refusal`);
  table.push({ entry, klass, code });
}

/** A decoder row: the bad call on a decoder at STATE must leave its state bytes and position as they were. */
function badDecoder(entry: string, klass: string, code: PerformerErrorCode, call: (dec: FavorDecoder, out: Float32Array) => unknown,
                    outLength = 12): void {
  const dec = causal.decoderFromState(STATE);
  bad(entry, klass, code, (out) => call(dec, out), outLength);
  assert.equal(Array.from(dec.saveState()), Array.from(STATE), `${entry} / ${klass}: the decoder state moved`);
  assert.is(dec.position, 1);
  assert.equal(bits(dec.step(q1, k1, v1)), bits(stepWant), `${entry} / ${klass}: the next step is wrong`);
  dec.dispose();
}

test('exactAttention: every class of bad input', () => {
  const ex = (qq: unknown, kk: unknown, vv: unknown, sh: unknown, o: Record<string, unknown> = {}) => (out: Float32Array) =>
    exactAttention(qq as Float32Array, kk as Float32Array, vv as Float32Array, sh as never, { causal: true, keyMask: mask, out, ...o } as never);
  bad('exactAttention', 'q is a number[]', 'INVALID_TYPE', ex(Array.from(q), k, v, shape));
  bad('exactAttention', 'k is a Float64Array', 'INVALID_TYPE', ex(q, Float64Array.from(k), v, shape));
  bad('exactAttention', 'v is null', 'INVALID_TYPE', ex(q, k, null, shape));
  bad('exactAttention', 'shape is null', 'INVALID_TYPE', ex(q, k, v, null));
  bad('exactAttention', 'shape is a number', 'INVALID_TYPE', ex(q, k, v, 5));
  bad('exactAttention', 'options is a string', 'INVALID_TYPE', (out) => exactAttention(q, k, v, shape, 'causal' as never) && out);
  bad('exactAttention', 'out is a number[]', 'INVALID_TYPE', ex(q, k, v, shape, { out: Array.from(sentinel()) }));
  bad('exactAttention', 'keyMask is an Int8Array', 'INVALID_TYPE', ex(q, k, v, shape, { keyMask: Int8Array.from(mask) }));
  bad('exactAttention', 'keyMask is a Uint8ClampedArray', 'INVALID_TYPE', ex(q, k, v, shape, { keyMask: Uint8ClampedArray.from(mask) }));
  bad('exactAttention', 'keyMask is a boolean[]', 'INVALID_TYPE', ex(q, k, v, shape, { keyMask: Array.from(mask, Boolean) }));
  bad('exactAttention', 'q one element short', 'INVALID_LENGTH', ex(q.subarray(1), k, v, shape));
  bad('exactAttention', 'v one element long', 'INVALID_LENGTH', ex(q, k, new Float32Array(v.length + 1), shape));
  bad('exactAttention', 'out one element long', 'INVALID_LENGTH', (out) => exactAttention(q, k, v, shape, { out }), OUT + 1);
  bad('exactAttention', 'keyMask batch·keys − 1', 'INVALID_LENGTH', ex(q, k, v, shape, { keyMask: mask.subarray(1) }));
  bad('exactAttention', 'keyMask keys (not batch·keys)', 'INVALID_LENGTH', ex(q, k, v, shape, { keyMask: mask.subarray(0, 6) }));
  bad('exactAttention', 'shape.keys disagrees with k', 'INVALID_LENGTH', ex(q, k, v, { ...shape, keys: 5 }));
  for (const [field, value] of [['queries', 0], ['keys', -1], ['dim', 2.5], ['valueDim', NaN], ['batch', Infinity], ['heads', '2'],
                                ['queries', 2 ** 31], ['dim', 1e300], ['batch', null]] as const) {
    bad('exactAttention', `shape.${field} = ${String(value)}`, 'INVALID_SIZE', ex(q, k, v, { ...shape, [field]: value }));
  }
  bad('exactAttention', 'batch·heads·queries·dim ≥ 2³¹', 'INVALID_SIZE', ex(q, k, v, { ...shape, queries: 2 ** 28 }));
  bad('exactAttention', 'NaN in q', 'NON_FINITE', ex(with1(q, 3, NaN), k, v, shape));
  bad('exactAttention', '+Infinity in k', 'NON_FINITE', ex(q, with1(k, k.length - 1, Infinity), v, shape));
  bad('exactAttention', '−Infinity in v', 'NON_FINITE', ex(q, k, with1(v, 0, -Infinity), shape));
  bad('exactAttention', 'unknown option', 'UNKNOWN_OPTION', ex(q, k, v, shape, { casual: true }));
  bad('exactAttention', 'unknown shape key', 'UNKNOWN_OPTION', ex(q, k, v, { ...shape, seqLen: 5 }));
  bad('exactAttention', 'causal = 1', 'INVALID_OPTION', ex(q, k, v, shape, { causal: 1 }));
  const shared = new Float32Array(q.length + OUT);
  shared.set(q);
  bad('exactAttention', 'out overlaps q', 'INVALID_OPTION', () => exactAttention(shared.subarray(0, q.length), k, v, shape, { out: shared.subarray(q.length - 1, q.length - 1 + OUT) }));
  bad('exactAttention', 'workspace over 4 GiB', 'OUT_OF_MEMORY', (out) => {
    const dim = 2 ** 27; // q, k one zero-filled 512 MiB array: the tile scratch alone passes 4 GiB
    const big = new Float32Array(dim);
    return exactAttention(big, big, new Float32Array(1), { queries: 1, keys: 1, dim, valueDim: 1 }, { out });
  }, 1);
  stillWorks('exactAttention');
});

test('new FavorAttention: every class of bad option', () => {
  const ctor = (o: unknown) => () => new FavorAttention(o as never);
  bad('new FavorAttention', 'options missing', 'INVALID_TYPE', ctor(undefined));
  bad('new FavorAttention', 'options is a number', 'INVALID_TYPE', ctor(4));
  bad('new FavorAttention', 'options is an array', 'INVALID_TYPE', ctor([4]));
  bad('new FavorAttention', 'projection is a number[]', 'INVALID_TYPE', ctor({ dim: 2, projection: [1, 0, 0, 1] }));
  bad('new FavorAttention', 'projection is a Float64Array', 'INVALID_TYPE', ctor({ dim: 2, projection: new Float64Array(4) }));
  for (const [field, value] of [['dim', 0], ['dim', -4], ['dim', 1.5], ['dim', NaN], ['dim', '4'], ['dim', 2 ** 31], ['features', 0],
                                ['features', -1], ['features', 0.5], ['features', NaN], ['chunkSize', 0], ['chunkSize', 1.5],
                                ['chunkSize', -Infinity]] as const) {
    bad('new FavorAttention', `${field} = ${String(value)}`, 'INVALID_SIZE', ctor({ dim: 4, [field]: value }));
  }
  bad('new FavorAttention', 'features·dim > 2²⁶ (huge)', 'INVALID_SIZE', ctor({ dim: 4096, features: 2 ** 15 }));
  bad('new FavorAttention', 'dim missing', 'INVALID_SIZE', ctor({ features: 4 }));
  bad('new FavorAttention', 'projection length not a multiple of dim', 'INVALID_LENGTH', ctor({ dim: 4, projection: new Float32Array(10) }));
  bad('new FavorAttention', 'projection empty', 'INVALID_LENGTH', ctor({ dim: 4, projection: new Float32Array(0) }));
  bad('new FavorAttention', 'projection ≠ features·dim', 'INVALID_LENGTH', ctor({ dim: 4, features: 3, projection: new Float32Array(8) }));
  bad('new FavorAttention', 'NaN in projection', 'NON_FINITE', ctor({ dim: 2, projection: Float32Array.of(1, 0, NaN, 1) }));
  bad('new FavorAttention', '−Infinity in projection', 'NON_FINITE', ctor({ dim: 2, projection: Float32Array.of(1, 0, 0, -Infinity) }));
  bad('new FavorAttention', 'unknown option', 'UNKNOWN_OPTION', ctor({ dim: 4, featurs: 8 }));
  bad('new FavorAttention', 'unknown option (threads)', 'UNKNOWN_OPTION', ctor({ dim: 4, threads: 2 }));
  for (const [field, value] of [['kernel', 'softmax2'], ['kernel', 3], ['projection', 'qr'], ['norms', 'unit'], ['seed', -1],
                                ['seed', 1.5], ['seed', 2 ** 32], ['seed', NaN], ['seed', '7'], ['causal', 1], ['causal', 'yes'],
                                ['epsilon', -1], ['epsilon', NaN], ['epsilon', Infinity]] as const) {
    bad('new FavorAttention', `${field} = ${String(value)}`, 'INVALID_OPTION', ctor({ dim: 4, [field]: value }));
  }
  bad('new FavorAttention', "projection 'none' with softmax", 'INVALID_OPTION', ctor({ dim: 4, projection: 'none' }));
  bad('new FavorAttention', "projection 'none' with features ≠ dim", 'INVALID_OPTION', ctor({ dim: 4, kernel: 'relu', projection: 'none', features: 8 }));
  stillWorks('the constructor');
});

test('forward: every class of bad input', () => {
  for (const [name, inst] of [['forward', attn], ['forward (causal)', causal]] as const) {
    const fw = (qq: unknown, kk: unknown, vv: unknown, sh: unknown, o: Record<string, unknown> = {}) => (out: Float32Array) =>
      inst.forward(qq as Float32Array, kk as Float32Array, vv as Float32Array, sh as never, { keyMask: mask, out, ...o } as never);
    bad(name, 'q is a number[]', 'INVALID_TYPE', fw(Array.from(q), k, v, shape));
    bad(name, 'k is a Float64Array', 'INVALID_TYPE', fw(q, Float64Array.from(k), v, shape));
    bad(name, 'v is undefined', 'INVALID_TYPE', fw(q, k, undefined, shape));
    bad(name, 'shape is null', 'INVALID_TYPE', fw(q, k, v, null));
    bad(name, 'options is an array', 'INVALID_TYPE', (out) => inst.forward(q, k, v, shape, [out] as never));
    bad(name, 'out is a Float64Array', 'INVALID_TYPE', fw(q, k, v, shape, { out: new Float64Array(OUT) }));
    bad(name, 'out is null', 'INVALID_TYPE', fw(q, k, v, shape, { out: null }));
    bad(name, 'keyMask is an Int8Array', 'INVALID_TYPE', fw(q, k, v, shape, { keyMask: Int8Array.from(mask) }));
    bad(name, 'keyMask is a number[]', 'INVALID_TYPE', fw(q, k, v, shape, { keyMask: Array.from(mask) }));
    bad(name, 'q one element short', 'INVALID_LENGTH', fw(q.subarray(1), k, v, shape));
    bad(name, 'k one element long', 'INVALID_LENGTH', fw(q, new Float32Array(k.length + 1), v, shape));
    bad(name, 'out one element short', 'INVALID_LENGTH', fw(q, k, v, shape), OUT - 1);
    bad(name, 'keyMask batch·keys + 1', 'INVALID_LENGTH', fw(q, k, v, shape, { keyMask: new Uint8Array(13) }));
    bad(name, 'shape.valueDim disagrees with v', 'INVALID_LENGTH', fw(q, k, v, { ...shape, valueDim: 4 }));
    for (const [field, value] of [['queries', 0], ['keys', -6], ['heads', 1.5], ['batch', NaN], ['valueDim', Infinity], ['queries', '5'],
                                  ['keys', 2 ** 31], ['batch', null]] as const) {
      bad(name, `shape.${field} = ${String(value)}`, 'INVALID_SIZE', fw(q, k, v, { ...shape, [field]: value }));
    }
    bad(name, "shape.dim ≠ the instance's dim", 'INVALID_SIZE', fw(q, k, v, { ...shape, dim: 5 }));
    bad(name, 'batch·heads·keys·valueDim ≥ 2³¹', 'INVALID_SIZE', fw(q, k, v, { ...shape, valueDim: 2 ** 30 }));
    bad(name, 'NaN in q', 'NON_FINITE', fw(with1(q, 0, NaN), k, v, shape));
    bad(name, '+Infinity in k', 'NON_FINITE', fw(q, with1(k, 7, Infinity), v, shape));
    bad(name, '−Infinity in v', 'NON_FINITE', fw(q, k, with1(v, v.length - 1, -Infinity), shape));
    bad(name, 'unknown option', 'UNKNOWN_OPTION', fw(q, k, v, shape, { causal: true }));
    bad(name, 'unknown shape key', 'UNKNOWN_OPTION', fw(q, k, v, { ...shape, seq: 5 }));
    bad(name, 'out is q itself', 'INVALID_LENGTH', fw(q, k, v, shape, { out: q }));
    const shared = new Float32Array(v.length + OUT);
    shared.set(v);
    bad(name, 'out overlaps v', 'INVALID_OPTION', () => inst.forward(q, k, shared.subarray(0, v.length), shape, { out: shared.subarray(5, 5 + OUT) }));
  }
  // a workspace past 4 GiB: M·valueDim floats of state (an explicit 16384 × 4 projection, valueDim 2¹⁷)
  const wide = new FavorAttention({ dim: 4, projection: new Float32Array(16384 * 4) });
  bad('forward', 'workspace over 4 GiB', 'OUT_OF_MEMORY', (out) =>
    wide.forward(new Float32Array(4), new Float32Array(4), new Float32Array(2 ** 17), { queries: 1, dim: 4, valueDim: 2 ** 17 }, { out }), 2 ** 17);
  stillWorks('forward');
});

test('redraw: bad seeds and projections that cannot be redrawn', () => {
  const inst = new FavorAttention({ dim: 4, features: 6, seed: 1 });
  const w = inst.projection;
  for (const seed of [-1, 1.5, 2 ** 32, NaN, Infinity, '2', null]) {
    bad('redraw', `seed = ${String(seed)}`, 'INVALID_OPTION', () => inst.redraw(seed as never));
    assert.equal(Array.from(inst.projection), Array.from(w), 'the projection changed');
    assert.is(inst.seed, 1);
  }
  bad('redraw', "projection 'none'", 'INVALID_OPTION', () => new FavorAttention({ dim: 4, kernel: 'relu', projection: 'none' }).redraw());
  bad('redraw', 'an explicit projection', 'INVALID_OPTION', () => new FavorAttention({ dim: 2, projection: Float32Array.of(1, 0, 0, 1) }).redraw(3));
  assert.equal(bits(inst.forward(q, k, v, shape, { keyMask: mask })), bits(favorWant), 'redraw refused: same results');
  stillWorks('redraw');
});

test('decoder(): bad options', () => {
  const dec = (o: unknown) => () => causal.decoder(o as never);
  bad('decoder', 'options is a number', 'INVALID_TYPE', dec(2));
  bad('decoder', 'options is null', 'INVALID_TYPE', dec(null));
  for (const [field, value] of [['batch', 0], ['heads', -1], ['valueDim', 1.5], ['batch', NaN], ['heads', '2'], ['valueDim', 2 ** 31]] as const) {
    bad('decoder', `${field} = ${String(value)}`, 'INVALID_SIZE', dec({ [field]: value }));
  }
  bad('decoder', 'unknown option', 'UNKNOWN_OPTION', dec({ head: 2 }));
  bad('decoder', 'unknown option (dim)', 'UNKNOWN_OPTION', dec({ dim: 4 }));
  bad('decoder', 'state over 4 GiB (huge heads)', 'OUT_OF_MEMORY', dec({ batch: 2 ** 15, heads: 2 ** 15 }));
  bad('decoder', 'state over 4 GiB (huge valueDim)', 'OUT_OF_MEMORY', dec({ valueDim: 2 ** 28 }));
  stillWorks('decoder()');
});

test('step: every class of bad input; the state does not move', () => {
  const st = (qq: unknown, kk: unknown, vv: unknown) => (d: FavorDecoder, out: Float32Array) =>
    d.step(qq as Float32Array, kk as Float32Array, vv as Float32Array, out);
  badDecoder('step', 'q is a number[]', 'INVALID_TYPE', st(Array.from(q1), k1, v1));
  badDecoder('step', 'v is a Float64Array', 'INVALID_TYPE', st(q1, k1, Float64Array.from(v1)));
  badDecoder('step', 'k is missing', 'INVALID_TYPE', st(q1, undefined, v1));
  badDecoder('step', 'out is a number[]', 'INVALID_TYPE', (d) => d.step(q1, k1, v1, [0, 0] as never));
  badDecoder('step', 'q one element short', 'INVALID_LENGTH', st(q1.subarray(1), k1, v1));
  badDecoder('step', 'k of one head only', 'INVALID_LENGTH', st(q1, k1.subarray(0, 4), v1));
  badDecoder('step', 'v with dim (not valueDim) per head', 'INVALID_LENGTH', st(q1, k1, new Float32Array(16)));
  badDecoder('step', 'out one element long', 'INVALID_LENGTH', st(q1, k1, v1), 13);
  badDecoder('step', 'NaN in q', 'NON_FINITE', st(with1(q1, 15, NaN), k1, v1));
  badDecoder('step', '+Infinity in k', 'NON_FINITE', st(q1, with1(k1, 0, Infinity), v1));
  badDecoder('step', '−Infinity in v', 'NON_FINITE', st(q1, k1, with1(v1, 5, -Infinity)));
  badDecoder('step', 'out is k itself', 'INVALID_LENGTH', (d) => d.step(q1, k1, v1, k1));
  const shared = new Float32Array(16 + 12);
  shared.set(q1);
  badDecoder('step', 'out overlaps q', 'INVALID_OPTION', (d) => d.step(shared.subarray(0, 16), k1, v1, shared.subarray(15, 27)));
  const gone = causal.decoderFromState(STATE);
  gone.dispose();
  bad('step', 'after dispose()', 'INVALID_STATE', (out) => gone.step(q1, k1, v1, out), 12);
  stillWorks('step');
});

test('prefill: every class of bad input; the state does not move', () => {
  const pf = (qq: unknown, kk: unknown, vv: unknown, tokens: unknown) => (d: FavorDecoder, out: Float32Array) =>
    d.prefill(qq as Float32Array, kk as Float32Array, vv as Float32Array, tokens as number, out);
  badDecoder('prefill', 'q is a number[]', 'INVALID_TYPE', pf(Array.from(qP), kP, vP, 3), 36);
  badDecoder('prefill', 'k is a Float64Array', 'INVALID_TYPE', pf(qP, Float64Array.from(kP), vP, 3), 36);
  badDecoder('prefill', 'out is a Uint8Array', 'INVALID_TYPE', (d) => d.prefill(qP, kP, vP, 3, new Uint8Array(36) as never));
  for (const tokens of [0, -3, 1.5, NaN, Infinity, '3', 2 ** 31]) {
    badDecoder('prefill', `tokens = ${String(tokens)}`, 'INVALID_SIZE', pf(qP, kP, vP, tokens), 36);
  }
  badDecoder('prefill', 'tokens disagrees with q (4, not 3)', 'INVALID_LENGTH', pf(qP, kP, vP, 4), 48);
  badDecoder('prefill', 'v one element short', 'INVALID_LENGTH', pf(qP, kP, vP.subarray(1), 3), 36);
  badDecoder('prefill', 'out one element short', 'INVALID_LENGTH', pf(qP, kP, vP, 3), 35);
  badDecoder('prefill', 'NaN in k', 'NON_FINITE', pf(qP, with1(kP, 20, NaN), vP, 3), 36);
  badDecoder('prefill', '+Infinity in v', 'NON_FINITE', pf(qP, kP, with1(vP, 35, Infinity), 3), 36);
  const gone = causal.decoderFromState(STATE);
  gone.dispose();
  bad('prefill', 'after dispose()', 'INVALID_STATE', (out) => gone.prefill(qP, kP, vP, 3, out), 36);
  // the refused prefills left no trace: a prefill from STATE still gives its result bit for bit
  assert.equal(bits(causal.decoderFromState(STATE).prefill(qP, kP, vP, 3)), bits(prefillWant));
  stillWorks('prefill');
});

/** Bytes with one change, re-sealed (a valid checksum) unless `seal` is false: the payload checks must catch it. */
function edited(edit: (view: DataView) => void, seal = true): Uint8Array {
  const bytes = STATE.slice();
  const view = new DataView(bytes.buffer);
  edit(view);
  if (seal) {
    let h = 0x811c9dc5;
    for (let i = 0; i < bytes.length - 4; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
    view.setUint32(bytes.length - 4, h >>> 0, true);
  }
  return bytes;
}

test('saveState / decoderFromState: truncated, tampered and foreign state bytes', () => {
  const load = (bytes: unknown, on: FavorAttention = causal) => () => on.decoderFromState(bytes as Uint8Array);
  const n = STATE.length;
  bad('decoderFromState', 'a number[]', 'INVALID_TYPE', load(Array.from(STATE)));
  bad('decoderFromState', 'an ArrayBuffer', 'INVALID_TYPE', load(STATE.slice().buffer));
  bad('decoderFromState', 'undefined', 'INVALID_TYPE', load(undefined));
  bad('decoderFromState', 'empty', 'INVALID_STATE', load(new Uint8Array(0)));
  bad('decoderFromState', 'the header only', 'INVALID_STATE', load(STATE.subarray(0, 48)));
  bad('decoderFromState', 'truncated by 1 byte', 'INVALID_STATE', load(STATE.subarray(0, n - 1)));
  bad('decoderFromState', 'truncated by 8 bytes', 'INVALID_STATE', load(STATE.subarray(0, n - 8)));
  bad('decoderFromState', 'one byte appended', 'INVALID_STATE', load(Uint8Array.from([...STATE, 0])));
  for (const at of [0, 4, 6, 8, 20, 28, 32, 40, 48, 100, n - 5, n - 1]) {
    bad('decoderFromState', `one bit flipped at byte ${at}`, 'INVALID_STATE', load(edited((view) => view.setUint8(at, view.getUint8(at) ^ 1), false)));
  }
  // re-sealed edits: the checksum is right, the content is not
  bad('decoderFromState', 'version 2 (re-sealed)', 'INVALID_STATE', load(edited((view) => view.setUint16(4, 2, true))));
  bad('decoderFromState', 'another kernel id (re-sealed)', 'INVALID_STATE', load(edited((view) => view.setUint8(6, 1))));
  bad('decoderFromState', "flag 'none' (re-sealed)", 'INVALID_STATE', load(edited((view) => view.setUint8(7, 1))));
  bad('decoderFromState', 'dim 5 (re-sealed)', 'INVALID_STATE', load(edited((view) => view.setUint32(8, 5, true))));
  bad('decoderFromState', 'valueDim 4 (re-sealed)', 'INVALID_STATE', load(edited((view) => view.setUint32(12, 4, true))));
  bad('decoderFromState', 'features 7 (re-sealed)', 'INVALID_STATE', load(edited((view) => view.setUint32(16, 7, true))));
  bad('decoderFromState', 'batch 0 (re-sealed)', 'INVALID_STATE', load(edited((view) => view.setUint32(20, 0, true))));
  bad('decoderFromState', 'heads 2³² − 1 (re-sealed)', 'INVALID_STATE', load(edited((view) => view.setUint32(24, 0xffffffff, true))));
  bad('decoderFromState', 'another projection checksum (re-sealed)', 'INVALID_STATE', load(edited((view) => view.setUint32(28, 1, true))));
  bad('decoderFromState', 'epsilon NaN (re-sealed)', 'INVALID_STATE', load(edited((view) => view.setFloat64(32, NaN, true))));
  for (const position of [-1, 0.5, NaN, Infinity]) {
    bad('decoderFromState', `position ${position} (re-sealed)`, 'INVALID_STATE', load(edited((view) => view.setFloat64(40, position, true))));
  }
  for (const [what, at] of [['c', 48], ['z', 56], ['S', 48 + 8 * 7]] as const) {
    for (const value of [NaN, Infinity]) {
      bad('decoderFromState', `${what} = ${value} (re-sealed)`, 'INVALID_STATE', load(edited((view) => view.setFloat64(at, value, true))));
    }
  }
  bad('decoderFromState', 'c = +Infinity (re-sealed)', 'INVALID_STATE', load(edited((view) => view.setFloat64(48, Infinity, true))));
  // a configuration that differs from the one that saved the bytes
  bad('decoderFromState', 'another seed', 'INVALID_STATE', load(STATE, new FavorAttention({ dim: 4, features: 6, seed: 2 })));
  bad('decoderFromState', 'another kernel', 'INVALID_STATE', load(STATE, new FavorAttention({ dim: 4, features: 6, seed: 1, kernel: 'relu' })));
  bad('decoderFromState', 'another epsilon', 'INVALID_STATE',
      load(new FavorAttention({ dim: 4, features: 6, seed: 1, kernel: 'relu' }).decoder().saveState(), new FavorAttention({ dim: 4, features: 6, seed: 1, kernel: 'relu', epsilon: 0.01 })));
  bad('decoderFromState', 'another features', 'INVALID_STATE', load(STATE, new FavorAttention({ dim: 4, features: 7, seed: 1 })));
  bad('decoderFromState', 'another dim', 'INVALID_STATE', load(STATE, new FavorAttention({ dim: 5, features: 6, seed: 1 })));
  const redrawn = new FavorAttention({ dim: 4, features: 6, seed: 1 });
  redrawn.redraw();
  bad('decoderFromState', 'after redraw()', 'INVALID_STATE', load(STATE, redrawn));
  // the same configuration (bidirectional or causal: decoders are causal either way) accepts it
  assert.equal(bits(attn.decoderFromState(STATE).step(q1, k1, v1)), bits(stepWant), 'an equal configuration continues the state');
  // saveState of a disposed decoder
  const gone = causal.decoderFromState(STATE);
  gone.dispose();
  bad('saveState', 'after dispose()', 'INVALID_STATE', () => gone.saveState());
  bad('reset', 'after dispose()', 'INVALID_STATE', () => gone.reset());
  gone.dispose(); // twice: a no-op
  stillWorks('decoderFromState');
});

test('init / initSync: bad sources and options leave the running module in place', async () => {
  const good = process.env.PERFORMER_WASM ? readFileSync(process.env.PERFORMER_WASM) : undefined;
  const rejects = async (entry: string, klass: string, code: PerformerErrorCode, call: () => Promise<unknown>) => {
    let got: unknown;
    try {
      await call();
      got = 'nothing thrown';
    } catch (error) {
      got = error;
    }
    assert.instance(got, PerformerError, `${entry} / ${klass}: ${String(got)}`);
    assert.is((got as PerformerError).code, code, `${entry} / ${klass}: ${(got as Error).message}`);
    table.push({ entry, klass, code });
  };
  const dec = causal.decoderFromState(STATE); // a live decoder: a failed init must not retire it
  const emptyModule = Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00); // valid wasm, no exports
  await rejects('init', 'source is a number', 'INVALID_TYPE', () => init(42 as never));
  await rejects('init', 'source is a string', 'INVALID_TYPE', () => init('performer.wasm' as never));
  await rejects('init', 'source is a plain object', 'INVALID_TYPE', () => init({} as never));
  await rejects('init', 'garbage bytes', 'INIT_FAILED', () => init(Uint8Array.of(1, 2, 3, 4)));
  await rejects('init', 'truncated wasm', 'INIT_FAILED', () => init(readFileSync(process.env.PERFORMER_WASM ?? 'build/performer.wasm').subarray(0, 100)));
  await rejects('init', 'a wasm module that is not performer-wasm', 'INIT_FAILED', () => init(emptyModule));
  await rejects('init', 'an HTTP 404 Response', 'INIT_FAILED', () => init(new Response('not found', { status: 404 })));
  await rejects('init', 'a rejected Response promise', 'INIT_FAILED', () => init(Promise.reject(new Error('offline'))));
  await rejects('init', 'unknown option', 'UNKNOWN_OPTION', () => init(undefined, { relaxed: true } as never));
  await rejects('init', 'options is a string', 'INVALID_TYPE', () => init(undefined, 'fast' as never));
  await rejects('init', 'relaxedSimd = 1', 'INVALID_OPTION', () => init(undefined, { relaxedSimd: 1 as never }));
  const sync = (klass: string, code: PerformerErrorCode, call: () => unknown) => rejects('initSync', klass, code, async () => call());
  await sync('source is a number', 'INVALID_TYPE', () => initSync(42 as never));
  await sync('source is a Response', 'INVALID_TYPE', () => initSync(new Response(new Uint8Array(8)) as never));
  await sync('garbage bytes', 'INIT_FAILED', () => initSync(new Uint8Array(16)));
  await sync('a wasm module that is not performer-wasm', 'INIT_FAILED', () => initSync(new WebAssembly.Module(emptyModule)));
  await sync('unknown option', 'UNKNOWN_OPTION', () => initSync(good, { simd: true } as never));
  await sync('relaxedSimd = "no"', 'INVALID_OPTION', () => initSync(good, { relaxedSimd: 'no' as never }));
  stillWorks('init');
  assert.equal(bits(dec.step(q1, k1, v1)), bits(stepWant), 'a decoder created before the failed init still works');
});

test('before init: NOT_INITIALIZED from a fresh process', () => {
  // the runtime is a module-level singleton, so a process that never calls init is the clean way to see it
  const script = fileURLToPath(new URL('../support/uninitialized.ts', import.meta.url));
  const run = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 60_000 });
  assert.is(run.status, 0, run.stderr);
  const codes = JSON.parse(run.stdout.trim().split('\n').pop()!) as Record<string, string>;
  const want: Record<string, string> = {
    memoryBytes: 'NOT_INITIALIZED', exactAttention: 'NOT_INITIALIZED', 'new FavorAttention': 'ok (needs no wasm)',
    forward: 'NOT_INITIALIZED', decoder: 'NOT_INITIALIZED', decoderFromState: 'NOT_INITIALIZED', 'redraw': 'ok (needs no wasm)',
    'exactAttention with bad arguments': 'NOT_INITIALIZED', 'forward with bad arguments': 'NOT_INITIALIZED',
    'initSync, then forward': 'ok',
  };
  assert.equal(codes, want);
  for (const entry of ['memoryBytes', 'exactAttention', 'forward', 'decoder', 'decoderFromState']) {
    table.push({ entry, klass: 'before init()', code: 'NOT_INITIALIZED' });
  }
});

test('the catalogue', () => {
  const byEntry = new Map<string, Map<string, number>>();
  for (const row of table) {
    const codes = byEntry.get(row.entry) ?? new Map<string, number>();
    codes.set(row.code, (codes.get(row.code) ?? 0) + 1);
    byEntry.set(row.entry, codes);
  }
  console.log(`    ${table.length} bad inputs:`);
  for (const [entry, codes] of byEntry) {
    console.log(`      ${entry.padEnd(20)} ${[...codes].map(([code, n]) => `${code} ×${n}`).join(', ')}`);
  }
  assert.ok(table.length >= 200, `only ${table.length} rows`);
});

// Messages that say what is wrong (issue 12): the missing piece named, the length's formula given.
test('forward / exactAttention without a shape say the shape is missing', () => {
  for (const call of [() => attn.forward(q, k, v, undefined as never), () => exactAttention(q, k, v, undefined as never)]) {
    const { code, message } = codeOf(call);
    assert.is(code, 'INVALID_TYPE');
    assert.match(message, /the shape is missing/);
  }
  assert.match(codeOf(() => attn.forward(q, k, v, 5 as never)).message, /shape must be an object, got 5/);
});

test('new FavorAttention without dim names the constructor and the field', () => {
  const { code, message } = codeOf(() => new FavorAttention({ features: 8 } as never));
  assert.is(code, 'INVALID_SIZE');
  assert.match(message, /new FavorAttention: options\.dim \(required/);
  assert.match(codeOf(() => new FavorAttention(undefined as never)).message, /new FavorAttention: options \{ dim, … \} must be an object/);
});

test('INVALID_LENGTH of q, k, v gives the formula with its numbers (forward, exactAttention, step, prefill)', () => {
  const cases: [string, () => unknown, RegExp][] = [
    ['q', () => attn.forward(q.subarray(1), k, v, shape), /q must have batch·heads·queries·dim = 2·2·5·4 = 80 elements, got 79/],
    ['k', () => exactAttention(q, k.subarray(1), v, shape), /k must have batch·heads·keys·dim = 2·2·6·4 = 96 elements, got 95/],
    ['v', () => attn.forward(q, k, v.subarray(1), shape), /v must have batch·heads·keys·valueDim = 2·2·6·3 = 72 elements, got 71/],
    ['q, batch defaulting to 1', () => attn.forward(q, k, v, { heads: 2, queries: 5, keys: 6, dim: 4, valueDim: 3 }), /q must have batch·heads·queries·dim = 1·2·5·4 = 40 elements, got 80/],
    ['decoder step v', () => causal.decoderFromState(STATE).step(q1, k1, v1.subarray(1)), /v must have batch·heads·valueDim = 2·2·3 = 12 elements, got 11/],
    ['decoder prefill k', () => causal.decoderFromState(STATE).prefill(qP, kP.subarray(1), vP, 3), /k must have batch·heads·tokens·dim = 2·2·3·4 = 48 elements, got 47/],
  ];
  for (const [what, call, want] of cases) {
    const { code, message } = codeOf(call);
    assert.is(code, 'INVALID_LENGTH', what);
    assert.match(message, want, what);
  }
});

test('init(bytes) of the package\'s own builds reports baseline / relaxed, other bytes custom', async () => {
  const baseline = readFileSync('build/performer.wasm');
  await init(baseline);
  assert.is(runtimeInfo().build, 'baseline');
  initSync(new Uint8Array(baseline));
  assert.is(runtimeInfo().build, 'baseline');
  await init(new Response(baseline)); // as init(fetch(url)) of the exported performer.wasm
  assert.is(runtimeInfo().build, 'baseline');
  const appended = new Uint8Array(baseline.length + 4); // the same module plus an empty custom section "x": other bytes
  appended.set(baseline);
  appended.set([0, 2, 1, 0x78], baseline.length);
  await init(appended);
  assert.is(runtimeInfo().build, 'custom');
  if (WebAssembly.validate(readFileSync('build/performer-relaxed.wasm'))) {
    await init(readFileSync('build/performer-relaxed.wasm').buffer.slice(0) as ArrayBuffer);
    assert.is(runtimeInfo().build, 'relaxed');
  }
  await init(new WebAssembly.Module(baseline)); // a compiled Module: its bytes cannot be read back
  assert.is(runtimeInfo().build, 'custom');
  if (process.env.PERFORMER_WASM) initSync(readFileSync(process.env.PERFORMER_WASM)); // as test/support/setup.ts
  else {
    await init(undefined, { relaxedSimd: false });
    assert.is(runtimeInfo().build, 'baseline');
  }
  stillWorks('init(bytes)');
});

test.run();
