import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { uniform } from '../support/data.ts';

// the vector exp is exported by the testing build only (assembly/testing.ts): its own instance and memory
const testing = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(new URL('../../build/performer-testing.wasm', import.meta.url))), {});
const { memory, heapBase, vexp } = testing.exports as { memory: WebAssembly.Memory; heapBase(): number; vexp(src: number, dst: number, n: number, base2: number): void };

function wasmMap(kernel: 'exp' | 'exp2neg', x: Float32Array): Float32Array {
  const src = (heapBase() + 63) & ~63;
  const dst = src + ((x.length * 4 + 63) & ~63);
  const need = dst + x.length * 4 - memory.buffer.byteLength;
  if (need > 0) memory.grow(Math.ceil(need / 65536));
  new Float32Array(memory.buffer, src, x.length).set(x);
  vexp(src, dst, x.length, kernel === 'exp2neg' ? 1 : 0);
  return new Float32Array(memory.buffer, dst, x.length).slice();
}
const wasmExp = (x: Float32Array) => wasmMap('exp', x);

test('vector exp: max relative error ≤ 2e-7 against float64 on 1.2e6 points of [−87, 88]', () => {
  const n = 1_200_001; // odd: the scalar tail runs too
  const x = uniform(n, 11, -87, 88);
  // plus a dense grid near 0, where reduction is exact and the polynomial alone decides
  for (let i = 0; i < 20001; i++) x[i] = -1 + i / 10000;
  const y = wasmExp(x);
  let worst = 0;
  let at = 0;
  for (let i = 0; i < n; i++) {
    const want = Math.exp(x[i]);
    const rel = Math.abs(y[i] - want) / want;
    if (rel > worst) [worst, at] = [rel, x[i]];
  }
  assert.ok(worst <= 2e-7, `max relative error ${worst.toExponential(3)} at x = ${at}`);
  console.log(`    vexp: max relative error ${worst.toExponential(3)} (at x = ${at.toFixed(4)}) over ${n} points`);
});

test('vector exp: edges of the range', () => {
  const x = new Float32Array([0, -0, 88.7, 88.8, 1000, -87.3, -87.4, -1000, -Infinity, Infinity, NaN]);
  const y = wasmExp(x);
  assert.is(y[0], 1);
  assert.is(y[1], 1);
  assert.ok(Math.abs(y[2] / Math.exp(x[2]) - 1) < 2e-7 && Number.isFinite(y[2]));
  assert.is(y[3], Infinity);
  assert.is(y[4], Infinity);
  assert.ok(Math.abs(y[5] / Math.exp(x[5]) - 1) < 2e-7);
  assert.is(y[6], 0); // would be subnormal: flushed to zero, as documented
  assert.is(y[7], 0);
  assert.is(y[8], 0);
  assert.is(y[9], Infinity);
  assert.ok(Number.isNaN(y[10]));
});

// 2^x for x ≤ 0: the exponentials of φ (features.ts) and of exact attention's softmax (exact.ts), in log2 units.
test('exp2 of non-positive x: max relative error ≤ 2e-7 against float64 on [−125, 0]; 0 below −125, for −∞ and NaN', () => {
  const n = 1_000_003;
  const x = uniform(n, 12, -125, 0);
  for (let i = 0; i < 20001; i++) x[i] = -i / 20000; // dense on [−1, 0]: the polynomial alone
  const y = wasmMap('exp2neg', x);
  let worst = 0;
  let at = 0;
  for (let i = 0; i < n; i++) {
    const rel = Math.abs(y[i] - 2 ** x[i]) / 2 ** x[i];
    if (rel > worst) [worst, at] = [rel, x[i]];
  }
  assert.ok(worst <= 2e-7, `max relative error ${worst.toExponential(3)} at x = ${at}`);
  console.log(`    exp2neg: max relative error ${worst.toExponential(3)} (at x = ${at.toFixed(4)}) over ${n} points`);
  const edges = wasmMap('exp2neg', new Float32Array([0, -0, -125, -125.5, -126, -1000, -Infinity, NaN, -0.5, -1e-30]));
  assert.equal(Array.from(edges.subarray(0, 2)), [1, 1]);
  assert.ok(Math.abs(edges[2] / 2 ** -125 - 1) < 2e-7, `2^−125: ${edges[2]}`);
  assert.equal(Array.from(edges.subarray(3, 8)), [0, 0, 0, 0, 0]);
  assert.ok(Math.abs(edges[8] / Math.SQRT1_2 - 1) < 2e-7 && edges[9] === 1);
});

test.run();
