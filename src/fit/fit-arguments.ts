// The arguments of fitFeatureMap (fit.ts): sample windows, the held-out split, the key shift, numbers.
// Each check throws a PerformerError before any work.
import { PerformerError } from '../arguments/errors.ts';
import { checkOptions, checkSize, describe } from '../arguments/validate.ts';
import { checkInput } from '../runtime/finite.ts';
import type { FitLoss } from './fit-loss.ts';
import type { FitSample } from './fit.ts';

export function checkSamples(name: string, samples: unknown, dim: number, loss: FitLoss): FitSample[] {
  if (!Array.isArray(samples) || samples.length === 0) {
    throw new PerformerError('INVALID_TYPE', `${name} must be a non-empty array of { q, k, v?, length }, got ${describe(samples)}`);
  }
  let valueDim: number | undefined;
  return samples.map((s, i) => {
    const o = checkOptions<FitSample>(`${name}[${i}]`, s, ['q', 'k', 'v', 'length']);
    const length = checkSize(`${name}[${i}].length`, o.length);
    const q = checkInput(`${name}[${i}].q`, o.q, length * dim);
    const k = checkInput(`${name}[${i}].k`, o.k, length * dim);
    if (o.v === undefined) {
      if (loss === 'mse') throw new PerformerError('INVALID_OPTION', `loss 'mse' needs values: ${name}[${i}].v is missing`);
      return { q, k, length };
    }
    if (!(o.v instanceof Float32Array) || o.v.length === 0 || o.v.length % length !== 0) {
      throw new PerformerError('INVALID_LENGTH', `${name}[${i}].v must be a Float32Array of length × valueDim floats, got ${describe(o.v)}`);
    }
    valueDim ??= o.v.length / length;
    const v = checkInput(`${name}[${i}].v`, o.v, length * valueDim);
    return { q, k, v, length };
  });
}

/** [training, held-out] samples. */
export function splitSamples(train: FitSample[], heldOut: unknown, dim: number, loss: FitLoss): [FitSample[], FitSample[]] {
  if (heldOut === undefined) return [train, []];
  if (typeof heldOut === 'number') {
    if (!(heldOut > 0 && heldOut < 1)) throw new PerformerError('INVALID_OPTION', `heldOut must be a fraction in (0, 1) or samples, got ${heldOut}`);
    const n = Math.round(train.length * heldOut);
    if (n < 1 || n >= train.length) {
      throw new PerformerError('INVALID_OPTION', `heldOut ${heldOut} of ${train.length} samples leaves no held-out or no training sample`);
    }
    return [train.slice(0, train.length - n), train.slice(train.length - n)];
  }
  return [train, checkSamples('heldOut', heldOut, dim, loss)];
}

/** The key shift: a Float32Array(dim), or the mean training key for `true`; undefined for none. */
export function keyShift(value: unknown, train: FitSample[], dim: number): Float32Array | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) {
    const mean = new Float64Array(dim);
    let rows = 0;
    for (const s of train) {
      for (let j = 0; j < s.length; j++) for (let t = 0; t < dim; t++) mean[t] += s.k[j * dim + t];
      rows += s.length;
    }
    return Float32Array.from(mean, (x) => x / rows);
  }
  return checkInput('centerKeys', value, dim).slice();
}

export function shifted(k: Float32Array, c: Float32Array, dim: number): Float32Array {
  return k.map((x, i) => x - c[i % dim]);
}

export function checkPositive(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new PerformerError('INVALID_OPTION', `${name} must be a finite number > 0, got ${describe(value)}`);
  }
  return value;
}

export function checkCount(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new PerformerError('INVALID_OPTION', `${name} must be an integer ≥ 0, got ${describe(value)}`);
  }
  return value;
}
