// The wasm input scan (src/runtime/finite.ts, assembly/arguments/scan.ts) against the JavaScript check it speeds up:
// the same max|x| on every input, and NON_FINITE with the index of the first NaN or ±∞ wherever it is.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import { scanFinite } from '../../src/runtime/finite.ts';
import { checkFinite } from '../../src/arguments/validate.ts';
import { memoryBytes } from '../../src/index.ts';
import { SCAN_FLOATS } from '../../src/runtime/wasm.ts';
import { randn } from '../support/data.ts';
import { throwsCode } from '../support/expect.ts';

// lengths below, at and around the scan block, with tails that are not a multiple of the 8-lane loop
const LENGTHS = [1, 7, SCAN_FLOATS - 1, SCAN_FLOATS, SCAN_FLOATS + 1, 3 * SCAN_FLOATS + 13, 65536 * 4 + 5];

test('scanFinite: the same max|x| as checkFinite, for every length and extreme values', () => {
  const extremes = [0, -0, 1.4e-45, -1.1754942e-38, 3.4028234663852886e38, -3.4028234663852886e38, -2.5];
  for (const n of LENGTHS) {
    const x = randn(n, n);
    assert.is(scanFinite('x', x), checkFinite('x', x), `length ${n}`);
    for (const value of extremes) {
      for (const at of [0, n - 1, Math.floor(n / 2)]) {
        const y = x.slice();
        y[at] = value;
        assert.is(scanFinite('y', y), checkFinite('y', y), `length ${n}, ${value} at ${at}`);
      }
    }
  }
  const zeros = new Float32Array(2 * SCAN_FLOATS);
  assert.is(scanFinite('zeros', zeros), 0);
});

test('scanFinite: NaN, +∞, −∞ anywhere give NON_FINITE naming the index; memory does not grow', () => {
  const before = memoryBytes();
  for (const n of LENGTHS) {
    const x = randn(n, 100 + n);
    for (const bad of [NaN, Infinity, -Infinity]) {
      for (const at of new Set([0, n - 1, Math.min(n - 1, SCAN_FLOATS), Math.floor(n / 3)])) {
        const y = x.slice();
        y[at] = bad;
        const message = throwsCode(() => scanFinite('q', y), 'NON_FINITE');
        assert.ok(message.includes(`q[${at}]`), `length ${n}, ${bad} at ${at}: ${message}`);
      }
    }
  }
  assert.is(memoryBytes(), before);
});

test.run();
