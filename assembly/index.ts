// The wasm module's exports: kernels that take pointers into linear memory and sizes, and never allocate.
// The facade (src/) owns all memory above __heap_base; src/runtime/abi.ts types these exports.
export { vexp, vsincos } from './linalg/math';
export { gemm_pack_b } from './linalg/gemm';
export { matmul_nn, matmul_nn_packed, matmul_nt, matmul_tn, matmul_tn_packed } from './linalg/gemm-calls';
export { exact_attention, exact_scratch_bytes } from './exact/exact';
export { feature_map, feature_row_stats } from './feature-maps/features';
export { favor_accumulate_chunk, favor_state_to_f32, project_rows } from './favor/favor';
export { favor_accumulate, favor_bidirectional, favor_readout } from './favor/bidirectional';

/** First free byte of linear memory: static data (lookup tables) lives below it and must never be written. */
export function heapBase(): usize {
  return __heap_base;
}
export { favor_causal } from './favor/causal';
export { decoder_step } from './decoder/decoder';
export { state_clear, state_merge } from './threads/heads';
export { favor_backward_keys, favor_backward_queries, favor_causal_backward_forward, favor_causal_backward_reverse, feature_map_backward, suffix_to_state_grad } from './favor/backward';
export { projection_gradient } from './feature-maps/projection-grad';
export { exact_attention_backward, exact_backward_scratch_bytes } from './exact/exact-backward';
export { max_abs_bits } from './arguments/scan';
export { hybrid_bidirectional, hybrid_causal, hybrid_tile_stride } from './hybrid/window';
export { hybrid_decoder_step } from './hybrid/ring';
export { hybrid_bidirectional_head, hybrid_causal_head } from './threads/window-heads';
export { hybrid_backward_chunk, hybrid_causal_backward_forward } from './hybrid/window-backward';
