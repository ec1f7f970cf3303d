// Which attention a call can use, from its masks. Keras's layer merges the attention mask [B, T, S], the
// query's and the value's Keras masks ([B, T], [B, S]) and the causal mask (lower-triangular [T, S], query i
// sees keys j ≤ i) into one [B, T, S] mask. The kernels take less: a key padding mask [B, S] (the same keys
// hidden from every query) and causal attention with T = S. So a call goes to the kernels when its merged
// mask is of that form, and otherwise (exact mode) to attention written with tfjs ops (dense-attention.ts);
// FAVOR+ never forms the T × S weights, so there a mask of any other form is an error.
import * as tf from '@tensorflow/tfjs-core';
import { PerformerError } from '../arguments/errors.ts';

export interface MaskInputs {
  attentionMask?: tf.Tensor;
  queryMask?: tf.Tensor;
  valueMask?: tf.Tensor;
  causal: boolean;
  batch: number;
  queries: number;
  keys: number;
}

/** A call the kernels can compute: an optional key mask [B·S] (1 = keep) and causal (T = S). */
export interface KernelPlan { kind: 'kernel'; keyMask?: Uint8Array; causal: boolean }
/** A call only the tfjs-ops attention can compute: the merged mask [B, T, S] (undefined: none). */
export interface DensePlan { kind: 'dense'; mask?: tf.Tensor; reason: string }

/** The key mask the call reduces to, or the reason it does not (a general mask, a query mask, causal T ≠ S). */
export function planMasks(m: MaskInputs): KernelPlan | { kind: 'dense'; reason: string } {
  const { batch: B, queries: T, keys: S } = m;
  if (m.causal && T !== S) return { kind: 'dense', reason: `useCausalMask with ${T} queries and ${S} keys (Keras aligns query i with key i; the kernels need T = S)` };
  if (m.queryMask) return { kind: 'dense', reason: 'a query mask (Keras hides every key from a padded query)' };
  let keyMask: Uint8Array | undefined;
  if (m.attentionMask) {
    const shape = m.attentionMask.shape;
    const rows = shape.length === 3 ? shape[1] : -1;
    if (shape.length !== 3 || shape[0] !== B || (rows !== T && rows !== 1) || shape[2] !== S) {
      throw new PerformerError('INVALID_LENGTH', `attentionMask must have shape [${B}, ${T}, ${S}] (or [${B}, 1, ${S}]), got [${shape}]`);
    }
    const data = m.attentionMask.dataSync();
    keyMask = new Uint8Array(B * S);
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < S; j++) {
        const first = data[b * rows * S + j] ? 1 : 0;
        for (let i = 1; i < rows; i++) {
          if ((data[(b * rows + i) * S + j] ? 1 : 0) !== first) {
            return { kind: 'dense', reason: 'an attentionMask whose rows differ (a general [B, T, S] mask, not a key padding mask)' };
          }
        }
        keyMask[b * S + j] = first;
      }
    }
  }
  if (m.valueMask) {
    const v = m.valueMask.dataSync();
    if (v.length !== B * S) throw new PerformerError('INVALID_LENGTH', `the value's mask must be [${B}, ${S}], got [${m.valueMask.shape}]`);
    keyMask ??= new Uint8Array(B * S).fill(1);
    for (let i = 0; i < B * S; i++) keyMask[i] &= v[i] ? 1 : 0;
  }
  return { kind: 'kernel', keyMask, causal: m.causal };
}

/** True when some sequence has every key masked (Keras then gives near-uniform weights; the kernels give zeros). */
export function hasEmptyRow(keyMask: Uint8Array, batch: number, keys: number): boolean {
  for (let b = 0; b < batch; b++) if (keyMask.subarray(b * keys, (b + 1) * keys).every((x) => x === 0)) return true;
  return false;
}

/**
 * Keras's merged mask as float32 0/1, [B or 1, T or 1, S] (broadcast by the attention), or undefined when nothing is
 * masked. Float products rather than bool ops: tfjs-backend-wasm 4.22 corrupts its memory on bandPart of a bool tensor.
 */
export function mergedMask(m: MaskInputs): tf.Tensor | undefined {
  return tf.tidy(() => {
    let mask: tf.Tensor | undefined;
    const and = (x: tf.Tensor) => { mask = mask ? tf.mul(mask, x) : x; };
    if (m.attentionMask) and(tf.cast(tf.notEqual(m.attentionMask, 0), 'float32'));
    if (m.queryMask) and(tf.expandDims(tf.cast(tf.notEqual(m.queryMask, 0), 'float32'), 2));
    if (m.valueMask) and(tf.expandDims(tf.cast(tf.notEqual(m.valueMask, 0), 'float32'), 1));
    if (m.causal) {
      const lower = new Float32Array(m.queries * m.keys);
      for (let i = 0; i < m.queries; i++) lower.fill(1, i * m.keys, i * m.keys + Math.min(i + 1, m.keys));
      and(tf.tensor3d(lower, [1, m.queries, m.keys]));
    }
    return mask;
  });
}
