// Faults: a wasm kernel that traps must fail the call with KERNEL_FAULT, and the next call must work on a
// rebuilt instance (src/runtime/guard.ts). Traps are injected by swapping a runtime export for a wrapper that
// calls the real kernel with a pointer past the end of memory (a genuine WebAssembly.RuntimeError:
// "memory access out of bounds"), or that throws a RuntimeError / RangeError itself. Decoders whose
// state lived in the faulted instance refuse to work (INVALID_STATE) and are restored from saveState().
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import '../support/setup.ts';
import { exactAttention, FavorAttention, initSync, memoryBytes, PerformerError, type FavorDecoder } from '../../src/index.ts';
import type { KernelExports } from '../../src/runtime/abi.ts';
import { runtime, type Runtime } from '../../src/runtime/wasm.ts';
import { withKernel } from '../../src/runtime/guard.ts';
import { randn } from '../support/data.ts';

const shape = { batch: 2, heads: 2, queries: 40, keys: 33, dim: 8, valueDim: 5 };
const q = randn(4 * 40 * 8, 1, 0.5);
const k = randn(4 * 33 * 8, 2, 0.5);
const v = randn(4 * 33 * 5, 3);
const bi = new FavorAttention({ dim: 8, features: 12, seed: 4, chunkSize: 16 });
const causal = new FavorAttention({ dim: 8, features: 12, seed: 4, causal: true, chunkSize: 16, kernel: 'softmax-hyperbolic' });
const hybrid = new FavorAttention({ dim: 8, features: 12, seed: 4, chunkSize: 16, window: 3 });
const hybridCausal = new FavorAttention({ dim: 8, features: 12, seed: 4, causal: true, chunkSize: 16, window: 3 });
const want = {
  bi: bi.forward(q, k, v, shape),
  causal: causal.forward(q, k, v, shape),
  exact: exactAttention(q, k, v, shape, { causal: true }),
};
const kLong = randn(4 * 45 * 8, 5, 0.5); // 45 keys for 40 queries: a prefix of 5 keys goes through favor_causal's pass.prefix
const vLong = randn(4 * 45 * 5, 6);
const bits = (x: Float32Array) => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));

// decoder inputs: 12 tokens of [batch 2, heads 2]
const DEC = { batch: 2, heads: 2, valueDim: 5 };
const tokens = Array.from({ length: 12 }, (_, t) => [randn(32, 100 + t, 0.5), randn(32, 200 + t, 0.5), randn(20, 300 + t)] as const);
const expectedSteps = (() => {
  const dec = causal.decoder(DEC);
  const out = tokens.map(([tq, tk, tv]) => dec.step(tq, tk, tv));
  dec.dispose();
  return out;
})();

type KernelName = Exclude<keyof KernelExports, 'memory' | 'heapBase'>;
const PAST_THE_END = 0xfffffff0; // 4 GiB − 16: no memory of this package is that large

/** Replaces export `name` of the running instance with `wrapper(real)`. The rebuilt instance has the real one again. */
function inject(name: KernelName, wrapper: (real: (...args: number[]) => unknown) => (...args: number[]) => unknown): Runtime {
  const rt = runtime();
  const real = rt.exports[name] as unknown as (...args: number[]) => unknown;
  (rt as { exports: KernelExports }).exports = { ...rt.exports, [name]: wrapper(real) } as KernelExports;
  return rt;
}

/** A genuine trap: the real kernel with its argument `arg` pointing past the end of memory. */
const outOfBounds = (arg: number) => (real: (...args: number[]) => unknown) => (...args: number[]) => {
  const bad = args.slice();
  bad[arg] = PAST_THE_END;
  return real(...bad);
};
const throwing = (error: () => Error) => () => () => { throw error(); };

function expectFault(call: () => unknown, old: Runtime, what: string): PerformerError {
  let thrown: unknown;
  try {
    call();
  } catch (error) {
    thrown = error;
  }
  assert.instance(thrown, PerformerError, `${what}: ${String(thrown)}`);
  const e = thrown as PerformerError;
  assert.is(e.code, 'KERNEL_FAULT', `${what}: ${e.message}`);
  assert.ok(e.cause instanceof WebAssembly.RuntimeError || e.cause instanceof RangeError, `${what}: cause ${String(e.cause)}`);
  assert.is(old.retired, 'fault', `${what}: the faulted instance is retired`);
  assert.ok(runtime() !== old, `${what}: a new instance runs`);
  return e;
}

function allStillRight(what: string): void {
  assert.equal(bits(bi.forward(q, k, v, shape)), bits(want.bi), `forward after ${what}`);
  assert.equal(bits(causal.forward(q, k, v, shape)), bits(want.causal), `causal forward after ${what}`);
  assert.equal(bits(exactAttention(q, k, v, shape, { causal: true })), bits(want.exact), `exactAttention after ${what}`);
  const dec = causal.decoder(DEC);
  tokens.forEach(([tq, tk, tv], t) => assert.equal(bits(dec.step(tq, tk, tv)), bits(expectedSteps[t]), `a new decoder after ${what}, step ${t}`));
  dec.dispose();
}

const faults: string[] = [];

test('a genuine out-of-bounds trap in every kernel entry: KERNEL_FAULT, then correct results', () => {
  const cases: [string, KernelName, number, () => unknown][] = [
    // [what, export, argument index of a pointer it writes or reads, the call]
    ['exactAttention (exact_attention pass)', 'exact_attention', 0, () => exactAttention(q, k, v, shape, { causal: true })],
    ['forward (favor_accumulate ws)', 'favor_accumulate', 2, () => bi.forward(q, k, v, shape)],
    ['forward (favor_readout pass)', 'favor_readout', 1, () => bi.forward(q, k, v, shape)],
    ['forward (state_to_f32 S32)', 'state_to_f32', 2, () => bi.forward(q, k, v, shape)],
    ['causal forward (favor_causal pass)', 'favor_causal', 1, () => causal.forward(q, k, v, shape)],
    ['causal forward, a key prefix (favor_causal ws)', 'favor_causal', 2, () => causal.forward(q, kLong, vLong, { ...shape, keys: 45 })],
    ['hybrid forward (hybrid_bidirectional hy)', 'hybrid_bidirectional', 3, () => hybrid.forward(q, k, v, shape)],
    ['causal hybrid forward (hybrid_causal pass)', 'hybrid_causal', 1, () => hybridCausal.forward(q, k, v, shape)],
  ];
  for (const [what, name, arg, call] of cases) {
    const old = inject(name, outOfBounds(arg));
    const e = expectFault(call, old, what);
    assert.match(e.message, /out of bounds/);
    faults.push(`${what}: ${(e.cause as Error).constructor.name} "${(e.cause as Error).message}"`);
    allStillRight(what);
  }
});

test('decoder step and prefill: the faulting decoder and every decoder of the old instance throw INVALID_STATE; saved states restore them', () => {
  for (const [what, name, arg, call] of [
    ['step (decoder_step pass)', 'decoder_step', 1, (d: FavorDecoder) => d.step(...tokens[5])],
    ['prefill (favor_causal pass)', 'favor_causal', 1, (d: FavorDecoder) => d.prefill(tokens[5][0], tokens[5][1], tokens[5][2], 1)],
  ] as const) {
    const a = causal.decoder(DEC);
    const b = causal.decoder(DEC);
    for (let t = 0; t < 5; t++) {
      a.step(...tokens[t]);
      b.step(...tokens[t]);
    }
    const saved = b.saveState(); // taken before the fault
    const old = inject(name, outOfBounds(arg));
    expectFault(() => call(a), old, what);
    faults.push(`${what}: KERNEL_FAULT`);
    for (const [name2, d] of [['the faulting decoder', a], ['another decoder', b]] as const) {
      for (const use of [() => d.step(...tokens[5]), () => d.prefill(tokens[5][0], tokens[5][1], tokens[5][2], 1), () => d.saveState(), () => d.reset()]) {
        try {
          use();
          assert.unreachable(`${name2} still works after the rebuild`);
        } catch (error) {
          assert.instance(error, PerformerError);
          assert.is((error as PerformerError).code, 'INVALID_STATE');
          assert.is((error as Error).message, 'the module was rebuilt after a fault; restore from saveState()');
        }
      }
      d.dispose(); // allowed, a no-op for the new instance
    }
    const restored = causal.decoderFromState(saved);
    assert.is(restored.position, 5);
    for (let t = 5; t < tokens.length; t++) assert.equal(bits(restored.step(...tokens[t])), bits(expectedSteps[t]), `${what}: restored, step ${t}`);
    restored.dispose();
    allStillRight(what);
  }
});

test('a RuntimeError or RangeError thrown inside a kernel section is a fault too; other errors pass through untouched', () => {
  for (const [what, error] of [
    ['RuntimeError (unreachable)', () => new WebAssembly.RuntimeError('unreachable')],
    ['RuntimeError (stack overflow)', () => new WebAssembly.RuntimeError('call stack exhausted')],
    ['RangeError (memory)', () => new RangeError('WebAssembly.Memory.grow(): Maximum memory size exceeded')],
  ] as const) {
    for (const [name, call] of [['favor_readout', () => bi.forward(q, k, v, shape)], ['exact_attention', () => exactAttention(q, k, v, shape)],
                                ['favor_causal', () => causal.forward(q, k, v, shape)], ['decoder_step', () => causal.decoder(DEC).step(...tokens[0])]] as const) {
      const old = inject(name, throwing(error));
      expectFault(call, old, `${what} in ${name}`);
      faults.push(`${what} in ${name}: KERNEL_FAULT`);
    }
    allStillRight(what);
  }
  // a PerformerError inside the guarded section (OUT_OF_MEMORY from the workspace check) is not a fault
  const before = runtime();
  const wide = new FavorAttention({ dim: 4, projection: new Float32Array(16384 * 4) });
  try {
    wide.forward(new Float32Array(4), new Float32Array(4), new Float32Array(2 ** 17), { queries: 1, dim: 4, valueDim: 2 ** 17 });
    assert.unreachable('accepted');
  } catch (error) {
    assert.is((error as PerformerError).code, 'OUT_OF_MEMORY');
  }
  assert.is(runtime(), before, 'no rebuild for OUT_OF_MEMORY');
  // a TypeError (a bug, not a trap) passes through as it is, without a rebuild
  try {
    withKernel(() => { throw new TypeError('a bug'); });
    assert.unreachable('nothing thrown');
  } catch (error) {
    assert.instance(error, TypeError);
  }
  assert.is(runtime(), before);
});

test('twenty faults in a row, each recovered; memory starts fresh', () => {
  for (let i = 0; i < 20; i++) {
    const old = inject(i % 2 ? 'favor_accumulate' : 'exact_attention', outOfBounds(i % 2 ? 2 : 0));
    expectFault(() => (i % 2 ? bi.forward(q, k, v, shape) : exactAttention(q, k, v, shape, { causal: true })), old, `fault ${i}`);
    assert.ok(memoryBytes() <= old.exports.memory.buffer.byteLength, 'the new instance has not grown past the old one');
  }
  faults.push('20 faults in a row (exact_attention / favor_accumulate out of bounds): all KERNEL_FAULT, all recovered');
  allStillRight('twenty faults');
});

test('a new init() retires decoders too (their state is not in the new memory); saved states continue bit for bit', () => {
  const dec = causal.decoder(DEC);
  for (let t = 0; t < 4; t++) dec.step(...tokens[t]);
  const saved = dec.saveState();
  const path = process.env.PERFORMER_WASM;
  if (path) initSync(readFileSync(path));
  else initSync(undefined, { relaxedSimd: false });
  for (const use of [() => dec.step(...tokens[4]), () => dec.prefill(tokens[4][0], tokens[4][1], tokens[4][2], 1)]) {
    try {
      use();
      assert.unreachable('an old decoder works after init()');
    } catch (error) {
      assert.is((error as PerformerError).code, 'INVALID_STATE');
      assert.match((error as Error).message, /init\(\) loaded a new module/);
    }
  }
  const resumed = causal.decoderFromState(saved);
  for (let t = 4; t < tokens.length; t++) assert.equal(bits(resumed.step(...tokens[t])), bits(expectedSteps[t]), `step ${t}`);
  allStillRight('init()');
});

test('faults injected and survived', () => {
  console.log(`    ${faults.length + 19} faults injected, every one KERNEL_FAULT and recovered:`);
  for (const f of faults) console.log(`      ${f}`);
});

test.run();
