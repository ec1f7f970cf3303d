// Key centring (docs/design.md §1b): softmax over keys is unchanged by k_j → k_j − c for any fixed c (every logit
// of a query shifts by the same −q·c), while the FAVOR+ variance, ∝ exp(‖q̂ + k̂‖²), falls as ‖k̂‖ shrinks.
// `true` takes c = this call's mean key per (batch, head) over the unmasked keys (bidirectional only: in causal
// use the mean would depend on later keys); a Float32Array(dim) is a fixed shift, valid everywhere.
import { PerformerError } from '../arguments/errors.ts';
import { describe } from '../arguments/validate.ts';
import type { ResolvedShape } from '../arguments/shapes.ts';

export type KeyCentering = boolean | Float32Array;

/** Checks the `centerKeys` option: a boolean, or a finite Float32Array of `dim` values (copied). */
export function checkCentering(value: unknown, dim: number, causal: boolean, softmax: boolean): false | true | Float32Array {
  if (value === undefined || value === false) return false;
  if (!softmax) throw new PerformerError('INVALID_OPTION', 'centerKeys needs a softmax kernel: only softmax attention is unchanged by shifting the keys');
  if (value === true) {
    if (causal) {
      throw new PerformerError('INVALID_OPTION', "centerKeys: true is bidirectional only: a causal query's mean key would depend on later keys; pass a fixed Float32Array(dim) shift instead");
    }
    return true;
  }
  if (!(value instanceof Float32Array) || value.length !== dim) {
    throw new PerformerError('INVALID_OPTION', `centerKeys must be a boolean or a Float32Array of dim (${dim}) values, got ${describe(value)}`);
  }
  if (!value.every(Number.isFinite)) throw new PerformerError('INVALID_OPTION', 'centerKeys: the shift must be finite');
  return value.slice();
}

/** The keys to use: k itself, or a centred copy (k − this head's unmasked mean, or k − shift). */
export function centredKeys(centering: false | true | Float32Array, k: Float32Array, s: ResolvedShape, mask: Uint8Array | undefined): Float32Array {
  if (centering === false) return k;
  const { dim: d, keys: L } = s;
  const out = new Float32Array(k.length);
  const c = new Float64Array(d);
  for (let head = 0; head < s.batch * s.heads; head++) {
    const b = Math.floor(head / s.heads);
    const rows = k.subarray(head * L * d, (head + 1) * L * d);
    if (centering === true) meanKey(rows, L, d, mask?.subarray(b * L, (b + 1) * L), c);
    else for (let t = 0; t < d; t++) c[t] = centering[t];
    for (let j = 0; j < L; j++) for (let t = 0; t < d; t++) out[(head * L + j) * d + t] = rows[j * d + t] - c[t];
  }
  return out;
}

/** c = mean of the unmasked rows (float64 sums); 0 when every row is masked. */
function meanKey(rows: Float32Array, L: number, d: number, mask: Uint8Array | undefined, c: Float64Array): void {
  c.fill(0);
  let n = 0;
  for (let j = 0; j < L; j++) {
    if (mask && !mask[j]) continue;
    n++;
    for (let t = 0; t < d; t++) c[t] += rows[j * d + t];
  }
  if (n) for (let t = 0; t < d; t++) c[t] /= n;
}

/** dk_j −= the mean of dk over this head's unmasked keys, for those keys (the gradient through k_j − mean k). */
export function centreGradient(dk: Float32Array, s: ResolvedShape, mask: Uint8Array | undefined): void {
  const { dim: d, keys: L } = s;
  const c = new Float64Array(d);
  for (let head = 0; head < s.batch * s.heads; head++) {
    const b = Math.floor(head / s.heads);
    const rows = dk.subarray(head * L * d, (head + 1) * L * d);
    const keep = mask?.subarray(b * L, (b + 1) * L);
    meanKey(rows, L, d, keep, c);
    for (let j = 0; j < L; j++) {
      if (keep && !keep[j]) continue;
      for (let t = 0; t < d; t++) rows[j * d + t] -= c[t];
    }
  }
}
