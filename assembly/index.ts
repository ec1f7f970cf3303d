// The wasm module's exports: kernels that take pointers into linear memory and sizes, and never allocate.
// The facade (src/) owns all memory above __heap_base; src/runtime/abi.ts types these exports.
export { vexp, vsincos } from './linalg/math';
export { gemm_nn, gemm_nn_packed, gemm_nt, gemm_pack_b, gemm_tn, gemm_tn_packed } from './linalg/gemm';
export { exact_attention, exact_scratch_bytes } from './exact/exact';
export { feature_map, feature_row_stats } from './feature-maps/features';
export { favor_accumulate, favor_readout, favor_state_to_f32, project_rows } from './favor/favor';

/** First free byte of linear memory: static data (lookup tables) lives below it and must never be written. */
export function heapBase(): usize {
  return __heap_base;
}
export { favor_causal_chunk } from './favor/causal';
export { decoder_step } from './decoder/decoder';
export { head_accumulate, head_bidirectional, head_causal, head_readout, state_clear, state_merge } from './threads/heads';
export { favor_backward_keys, favor_backward_queries, favor_causal_backward_forward, favor_causal_backward_reverse, feature_backward, suffix_to_state_grad } from './favor/backward';
export { projection_gradient } from './feature-maps/projection-grad';
export { exact_attention_backward, exact_backward_scratch_bytes } from './exact/exact-backward';
export { max_abs_bits } from './arguments/scan';
export { window_bidirectional_chunk, window_causal_chunk, window_tile_stride } from './hybrid/window';
export { window_decoder_step } from './hybrid/ring';
export { head_window } from './threads/window-heads';
export { window_backward_chunk, window_causal_backward_forward } from './hybrid/window-backward';
