// The finiteness check of large inputs, run in wasm: the input goes through the runtime's scan block
// (SCAN_FLOATS floats, allocated at init, so a check never grows memory) a block at a time, and
// max_abs_bits (assembly/arguments/scan.ts) takes the largest magnitude as bits, NaN and ±∞ included. Copy and
// scan together take about a fifth of the time of checkFinite's JavaScript loop on a 1 MiB input.
import { checkFinite, checkFloat32 } from '../arguments/validate.ts';
import { runtime, SCAN_FLOATS } from './wasm.ts';

/** The bits of +∞: magnitudes at or above it are NaN or ±∞. */
const INFINITY_BITS = 0x7f800000;

const bitsView = new Int32Array(1);
const floatView = new Float32Array(bitsView.buffer);

/** Like checkFinite (NON_FINITE at the first NaN or ±∞, else max|x|), with the scan in wasm. */
export function scanFinite(name: string, data: Float32Array): number {
  if (data.length < SCAN_FLOATS) return checkFinite(name, data); // short: JavaScript is as fast
  const rt = runtime();
  const block = rt.scanBlock;
  let bits = 0;
  for (let i = 0; i < data.length; i += SCAN_FLOATS) {
    const part = data.subarray(i, i + SCAN_FLOATS);
    rt.write(block, part);
    bits = Math.max(bits, rt.exports.max_abs_bits(block, part.length));
  }
  if (bits >= INFINITY_BITS) return checkFinite(name, data); // throws NON_FINITE, naming the first bad index
  bitsView[0] = bits;
  return floatView[0];
}

/** A Float32Array input of the given length with finite entries (`rule`: the length's formula, for the message). */
export function checkInput(name: string, value: unknown, length: number, rule?: () => string): Float32Array {
  const data = checkFloat32(name, value, length, rule);
  scanFinite(name, data);
  return data;
}

/** Like checkInput; also returns max|x| (for value scaling, src/favor/value-scale.ts). */
export function checkInputMax(name: string, value: unknown, length: number, rule?: () => string): { data: Float32Array; max: number } {
  const data = checkFloat32(name, value, length, rule);
  return { data, max: scanFinite(name, data) };
}
