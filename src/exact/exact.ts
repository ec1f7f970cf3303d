// Exact softmax attention, for comparison and as the fallback for short sequences.
import type { Float32Result } from '../arguments/buffers.ts';
import { withKernel } from '../runtime/guard.ts';
import { checkWorkspaceBytes } from '../runtime/heap.ts';
import { lengthRule, resolveShape, type AttentionShape, type ResolvedShape } from '../arguments/shapes.ts';
import { checkInput, checkInputMax } from '../runtime/finite.ts';
import { checkBoolean, checkKeyMask, checkOptions, checkOut } from '../arguments/validate.ts';
import { withValueScale } from '../favor/value-scale.ts';
import { PASS_BYTES, writePass } from '../runtime/descriptors.ts';
import { runtime, type Runtime } from '../runtime/wasm.ts';
import { planWorkspace } from '../runtime/workspace.ts';

export interface ExactAttentionOptions {
  /** Query i sees keys j ≤ i + (keys − queries) (aligned at the end, as with a key cache). Default false. */
  causal?: boolean;
  /** batch × keys bytes, nonzero = keep. Masked keys get zero weight. */
  keyMask?: Uint8Array;
  /** Receives the result [batch, heads, queries, valueDim] and is returned. */
  out?: Float32Array;
}

const OPTION_KEYS = ['causal', 'keyMask', 'out'] as const;

/**
 * softmax(Q·Kᵀ/√d)·V per (batch, head), in O(L) extra memory (tiled, online softmax).
 * A query that sees no key (all masked, or none before it) gets a zero row.
 */
export function exactAttention(q: Float32Array, k: Float32Array, v: Float32Array, shape: AttentionShape,
                               options?: ExactAttentionOptions): Float32Result {
  runtime();
  const s = resolveShape('exactAttention', shape);
  const o = checkOptions<ExactAttentionOptions>('exactAttention', options, OPTION_KEYS);
  checkInput('q', q, s.qLength, () => lengthRule(s, 'q'));
  checkInput('k', k, s.kLength, () => lengthRule(s, 'k'));
  const vMax = checkInputMax('v', v, s.vLength, () => lengthRule(s, 'v')).max;
  const causal = checkBoolean('causal', o.causal, false);
  const mask = checkKeyMask(o.keyMask, s.batch, s.keys);
  const given = checkOut(o.out, s.outLength, [q, k, v]);
  // under withKernel (guard.ts): a wasm trap becomes KERNEL_FAULT and the module is rebuilt
  const out = given ?? new Float32Array(s.outLength);
  withValueScale(v, vMax, out, (values) => withKernel(() => exactPass(s, q, k, values, causal, mask, out)));
  return out as Float32Result; // a fresh array, or the caller's `out` as given
}

function exactPass(s: ResolvedShape, q: Float32Array, k: Float32Array, v: Float32Array, causal: boolean,
                   mask: Uint8Array | undefined, out: Float32Array): Float32Array {
  const rt = runtime();
  const { queries: Lq, keys: Lk, dim: d, valueDim: dv } = s;
  // with a pool, each head's query rows are split over the threads (one lane of scratch each)
  const lanes = rt.pool && Lq >= 2 * 64 ? Math.min(rt.pool.threads, Math.floor(Lq / 64)) : 1;
  const blocks = rowBlocks(Lq, lanes, causal);
  const kernelScratch = rt.exports.exact_scratch_bytes(Math.max(...blocks.map(([a, b]) => b - a)), Lk, d, dv) >>> 0; // usize arrives as a signed i32
  const plan = planWorkspace({
    q: Lq * d, k: Lk * d, v: Lk * dv, out: Lq * dv, mask: Math.ceil(Lk / 4), pass: lanes * PASS_BYTES / 4, scratch: lanes * kernelScratch / 4,
  });
  checkWorkspaceBytes(plan.bytes);
  const base = rt.scratch(plan.bytes);
  const at = (region: keyof typeof plan.offsets) => base + plan.offsets[region];

  const scale = 1 / Math.sqrt(d);
  // one pass descriptor per lane, the same for every head (each head is copied to the same regions)
  const calls = blocks.map(([from, to], lane): Parameters<typeof rt.exports.exact_attention> | null => {
    // rows [from, to) see the keys their last row sees: j ≤ i + (keys − queries), the kernel's own rule
    const keys = Math.max(causal ? Math.min(Lk, to + Lk - Lq) : Lk, 0);
    const pass = at('pass') + lane * PASS_BYTES;
    writePass(rt.data, pass, { q: at('q') + from * d * 4, k: at('k'), v: at('v'), mask: mask ? at('mask') : 0, out: at('out') + from * dv * 4,
                               queries: to - from, keys, prefix: 0, valueDim: dv, chunk: 0 });
    return keys > 0 ? [pass, d, scale, causal ? 1 : 0, at('scratch') + lane * kernelScratch] : null;
  });
  const live = calls.filter((c) => c !== null);
  eachHead(rt, s, q, k, v, mask, { q: at('q'), k: at('k'), v: at('v'), mask: at('mask') }, (head) => {
    for (const [from, to] of blocks) if (causal && to + Lk - Lq <= 0) out.fill(0, (head * Lq + from) * dv, (head * Lq + to) * dv);
    if (lanes > 1) rt.pool!.run(live.map((args) => ({ fn: 'exact_attention', args })));
    else for (const args of live) rt.exports.exact_attention(...args);
    for (const [from, to] of blocks) {
      if (causal && to + Lk - Lq <= 0) continue;
      out.set(rt.view(at('out') + from * dv * 4, (to - from) * dv), (head * Lq + from) * dv);
    }
  });
  return out;
}

/**
 * Query rows [from, to) per lane. Causal rows cost in proportion to the keys they see, so the
 * boundaries are spaced like √ to give each lane the same work; the last block ends at Lq.
 */
function rowBlocks(Lq: number, lanes: number, causal: boolean): [number, number][] {
  const edge = (t: number) => Math.round(Lq * (causal ? Math.sqrt(t / lanes) : t / lanes));
  return Array.from({ length: lanes }, (_, t) => [edge(t), edge(t + 1)] as [number, number]).filter(([a, b]) => b > a);
}

/**
 * For each (batch, head) in order: copies the batch's mask row and the head's q, k, v into their wasm
 * regions (each head whole: exact attention needs every key at once), then runs fn(head).
 */
export function eachHead(rt: Runtime, s: ResolvedShape, q: Float32Array, k: Float32Array, v: Float32Array, mask: Uint8Array | undefined,
                         at: { q: number; k: number; v: number; mask: number }, fn: (head: number) => void): void {
  const { queries: Lq, keys: Lk, dim: d, valueDim: dv } = s;
  for (let b = 0; b < s.batch; b++) {
    if (mask) rt.u8.set(mask.subarray(b * Lk, (b + 1) * Lk), at.mask);
    for (let h = 0; h < s.heads; h++) {
      const head = b * s.heads + h;
      rt.write(at.q, q.subarray(head * Lq * d, (head + 1) * Lq * d));
      rt.write(at.k, k.subarray(head * Lk * d, (head + 1) * Lk * d));
      rt.write(at.v, v.subarray(head * Lk * dv, (head + 1) * Lk * dv));
      fn(head);
    }
  }
}
