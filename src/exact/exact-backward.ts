// Gradients of exact softmax attention (the backward pass of exactAttention), in O(L) extra memory.
import type { Float32Result } from '../arguments/buffers.ts';
import { PerformerError } from '../arguments/errors.ts';
import { withKernel } from '../runtime/guard.ts';
import { eachHead } from './exact.ts';
import { checkWorkspaceBytes } from '../runtime/heap.ts';
import { lengthRule, resolveShape, type AttentionShape, type ResolvedShape } from '../arguments/shapes.ts';
import { checkInput } from '../runtime/finite.ts';
import { checkBoolean, checkFloat32, checkKeyMask, checkOptions, checkOut, describe } from '../arguments/validate.ts';
import { GRADIENTS_BYTES, PASS_BYTES, writeGradients, writePass } from '../runtime/descriptors.ts';
import { runtime } from '../runtime/wasm.ts';
import { planWorkspace } from '../runtime/workspace.ts';

/** dq [batch, heads, queries, dim], dk [batch, heads, keys, dim], dv [batch, heads, keys, valueDim]. */
export interface ExactAttentionGradients {
  dq: Float32Result;
  dk: Float32Result;
  dv: Float32Result;
}

export interface ExactAttentionBackwardOptions {
  /** As in exactAttention: query i sees keys j ≤ i + (keys − queries). Default false. */
  causal?: boolean;
  /** batch × keys bytes, nonzero = keep. Masked keys get zero weight and zero gradient. */
  keyMask?: Uint8Array;
  /** Receive the gradients (overwritten, not accumulated) and are returned. */
  out?: { dq: Float32Array; dk: Float32Array; dv: Float32Array };
}

const OPTION_KEYS = ['causal', 'keyMask', 'out'] as const;
const OUT_KEYS = ['dq', 'dk', 'dv'] as const;

/**
 * The vector–Jacobian products of out = softmax(Q·Kᵀ/√d)·V (exactAttention, same options) with dOut:
 * dq = ∂⟨dOut, out⟩/∂q, dk, dv likewise. Masked keys get zero gradient; a query that sees no key
 * (out = 0) contributes nothing. Recomputes the forward pass tile by tile (FlashAttention-2 style), never
 * an L×L matrix.
 */
export function exactAttentionBackward(q: Float32Array, k: Float32Array, v: Float32Array, dOut: Float32Array,
                                       shape: AttentionShape, options?: ExactAttentionBackwardOptions): ExactAttentionGradients {
  const fn = 'exactAttentionBackward';
  runtime();
  const s = resolveShape(fn, shape);
  const o = checkOptions<ExactAttentionBackwardOptions>(fn, options, OPTION_KEYS);
  checkInput('q', q, s.qLength, () => lengthRule(s, 'q'));
  checkInput('k', k, s.kLength, () => lengthRule(s, 'k'));
  checkInput('v', v, s.vLength, () => lengthRule(s, 'v'));
  checkInput('dOut', dOut, s.outLength);
  const causal = checkBoolean('causal', o.causal, false);
  const mask = checkKeyMask(o.keyMask, s.batch, s.keys);
  const given = checkGradients(fn, o.out, s, [q, k, v, dOut]);
  const grads = given ?? { dq: new Float32Array(s.qLength), dk: new Float32Array(s.kLength), dv: new Float32Array(s.vLength) };
  // under withKernel (guard.ts): a wasm trap becomes KERNEL_FAULT and the module is rebuilt
  return withKernel(() => backwardPass(s, q, k, v, dOut, causal, mask, grads));
}

/** The `out` option: undefined, or { dq, dk, dv } of the right lengths, overlapping no input and each other. */
function checkGradients(fn: string, value: unknown, s: ResolvedShape, inputs: Float32Array[]): ExactAttentionGradients | undefined {
  if (value === undefined) return undefined;
  if (ArrayBuffer.isView(value)) {
    throw new PerformerError('INVALID_TYPE', `${fn}: out must be an object { dq, dk, dv } of Float32Arrays, got ${describe(value)}`);
  }
  const o = checkOptions<ExactAttentionGradients>(`${fn} out`, value ?? null, OUT_KEYS);
  const lengths = { dq: s.qLength, dk: s.kLength, dv: s.vLength };
  const seen = [...inputs];
  for (const key of OUT_KEYS) {
    checkFloat32(`out.${key}`, o[key], lengths[key]);
    const buffer = checkOut(o[key], lengths[key], seen)!; // INVALID_OPTION on overlap
    seen.push(buffer);
  }
  return o as ExactAttentionGradients;
}

function backwardPass(s: ResolvedShape, q: Float32Array, k: Float32Array, v: Float32Array, dOut: Float32Array, causal: boolean,
                      mask: Uint8Array | undefined, grads: ExactAttentionGradients): ExactAttentionGradients {
  const rt = runtime();
  const { queries: Lq, keys: Lk, dim: d, valueDim: dv } = s;
  const kernelScratch = rt.exports.exact_backward_scratch_bytes(Lq, Lk, d, dv) >>> 0; // usize arrives as a signed i32
  const plan = planWorkspace({
    q: Lq * d, k: Lk * d, v: Lk * dv, dout: Lq * dv, dq: Lq * d, dk: Lk * d, dv: Lk * dv,
    mask: Math.ceil(Lk / 4), pass: PASS_BYTES / 4, grads: GRADIENTS_BYTES / 4, scratch: kernelScratch / 4,
  });
  checkWorkspaceBytes(plan.bytes);
  const base = rt.scratch(plan.bytes);
  const at = (region: keyof typeof plan.offsets) => base + plan.offsets[region];

  const scale = 1 / Math.sqrt(d);
  writePass(rt.data, at('pass'), { q: at('q'), k: at('k'), v: at('v'), mask: mask ? at('mask') : 0, queries: Lq, keys: Lk, prefix: 0, valueDim: dv, chunk: 0 });
  writeGradients(rt.data, at('grads'), { dOut: at('dout'), dq: at('dq'), dk: at('dk'), dv: at('dv') });
  eachHead(rt, s, q, k, v, mask, { q: at('q'), k: at('k'), v: at('v'), mask: at('mask') }, (head) => {
    rt.write(at('dout'), dOut.subarray(head * Lq * dv, (head + 1) * Lq * dv));
    rt.exports.exact_attention_backward(at('pass'), at('grads'), d, scale, causal ? 1 : 0, at('scratch'));
    grads.dq.set(rt.view(at('dq'), Lq * d), head * Lq * d);
    grads.dk.set(rt.view(at('dk'), Lk * d), head * Lk * d);
    grads.dv.set(rt.view(at('dv'), Lk * dv), head * Lk * dv);
  });
  return grads;
}
