// Argument checks shared by every public entry point. Each throws a PerformerError before any work starts.
import { PerformerError } from './errors.ts';

const MAX_SIZE = 0x7fffffff;

/** A positive integer (a count or a dimension). */
export function checkSize(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0 || value > MAX_SIZE) {
    throw new PerformerError('INVALID_SIZE', `${name} must be a positive integer, got ${describe(value)}`);
  }
  return value;
}

/**
 * A Float32Array of exactly `length` elements. `rule` says how the length follows from the shape, for the
 * message (e.g. 'batch·heads·queries·dim = 1·8·16·64'; see lengthRule in shapes.ts); called only on a mismatch.
 */
export function checkFloat32(name: string, value: unknown, length: number, rule?: () => string): Float32Array {
  if (!(value instanceof Float32Array)) {
    throw new PerformerError('INVALID_TYPE', `${name} must be a Float32Array, got ${describe(value)}`);
  }
  if (value.length !== length) {
    const expected = rule === undefined ? `${length}` : `${rule()} = ${length}`;
    throw new PerformerError('INVALID_LENGTH', `${name} must have ${expected} elements, got ${value.length}`);
  }
  return value;
}

/**
 * Throws NON_FINITE at the first NaN or ±Infinity; returns max|x|. Math.max propagates NaN and ∞, so one
 * pass finds both; four independent maxima keep the loop from waiting on its own previous result (about
 * twice as fast as one). The slow search for the index runs only when something is wrong.
 */
export function checkFinite(name: string, data: Float32Array): number {
  let m0 = 0;
  let m1 = 0;
  let m2 = 0;
  let m3 = 0;
  const n = data.length;
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    m0 = Math.max(m0, Math.abs(data[i]));
    m1 = Math.max(m1, Math.abs(data[i + 1]));
    m2 = Math.max(m2, Math.abs(data[i + 2]));
    m3 = Math.max(m3, Math.abs(data[i + 3]));
  }
  for (; i < n; i++) m0 = Math.max(m0, Math.abs(data[i]));
  const big = Math.max(Math.max(m0, m1), Math.max(m2, m3));
  if (big <= 3.4028234663852886e38) return big;
  for (let j = 0; j < n; j++) {
    if (!Number.isFinite(data[j])) {
      throw new PerformerError('NON_FINITE', `${name}[${j}] is ${data[j]}: inputs must be finite`);
    }
  }
  return big;
}

/** An optional output buffer: undefined, or a Float32Array of the right length. It may not overlap an input. */
export function checkOut(value: unknown, length: number, inputs: readonly Float32Array[]): Float32Array | undefined {
  if (value === undefined) return undefined;
  const out = checkFloat32('out', value, length);
  for (const input of inputs) {
    if (overlaps(out, input)) throw new PerformerError('INVALID_OPTION', 'out must not share memory with an input');
  }
  return out;
}

/** An optional key padding mask: a Uint8Array of batch·keys entries, nonzero = keep. */
export function checkKeyMask(value: unknown, batch: number, keys: number): Uint8Array | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof Uint8Array)) {
    throw new PerformerError('INVALID_TYPE', `keyMask must be a Uint8Array (batch × keys, 1 = keep), got ${describe(value)}`);
  }
  if (value.length !== batch * keys) {
    throw new PerformerError('INVALID_LENGTH', `keyMask must have batch·keys = ${batch * keys} entries, got ${value.length}`);
  }
  return value;
}

/** An options bag: undefined or a plain object whose keys are all in `known`. `what` names it in messages. */
export function checkOptions<T extends object>(fn: string, value: unknown, known: readonly string[], what = 'options'): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new PerformerError('INVALID_TYPE', `${fn}: ${what} must be an object, got ${describe(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new PerformerError('UNKNOWN_OPTION', `${fn}: unknown option '${key}' (known: ${known.join(', ')})`);
    }
  }
  return value as Partial<T>;
}

/** An optional boolean option. */
export function checkBoolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new PerformerError('INVALID_OPTION', `${name} must be a boolean, got ${describe(value)}`);
  return value;
}

/** One of a fixed set of strings. */
export function checkChoice<T extends string>(name: string, value: unknown, choices: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw new PerformerError('INVALID_OPTION', `${name} must be one of ${choices.map((c) => `'${c}'`).join(', ')}, got ${describe(value)}`);
  }
  return value as T;
}

function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}
