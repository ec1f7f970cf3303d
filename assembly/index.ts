// The wasm module's exports, by feature: kernels that take pointers into linear memory (descriptors, assembly/descriptors.ts,
// and data) and never allocate. The facade (src/) owns all memory above __heap_base; src/runtime/abi.ts, generated from
// this file by scripts/generate-abi.mjs, types every export.

/** First free byte of linear memory: static data (lookup tables) lives below it and must never be written. */
export function heapBase(): usize {
  return __heap_base;
}

// linear algebra (matmul serves fitting, tests and the bench; the vector math's test exports are in testing.ts)
export { gemm_pack_b } from './linalg/gemm';
export { matmul } from './linalg/gemm-calls';
// input checks
export { max_abs_bits } from './arguments/scan';
// feature maps and their gradients
export { feature_map, feature_row_stats } from './feature-maps/features';
export { projection_gradient } from './feature-maps/projection-grad';
// FAVOR+: the state, bidirectional, causal, backward
export { project_rows } from './favor/favor';
export { state_clear, state_merge, state_to_f32 } from './favor/state';
export { favor_accumulate, favor_bidirectional, favor_readout } from './favor/bidirectional';
export { favor_causal } from './favor/causal';
export { favor_backward_keys, favor_backward_queries, favor_causal_backward_forward, favor_causal_backward_reverse, feature_map_backward, suffix_to_state_grad } from './favor/backward';
// recurrent decoding
export { decoder_step } from './decoder/decoder';
// hybrid attention (exact window + FAVOR+)
export { hybrid_bidirectional, hybrid_causal, hybrid_tile_stride } from './hybrid/forward';
export { hybrid_bidirectional_head, hybrid_causal_head } from './hybrid/heads';
export { hybrid_decoder_step } from './hybrid/ring';
export { hybrid_backward_chunk, hybrid_causal_backward_forward } from './hybrid/backward';
// exact attention
export { exact_attention, exact_scratch_bytes } from './exact/exact';
export { exact_attention_backward, exact_backward_scratch_bytes } from './exact/exact-backward';
