// The public surface, shared by both entries: index.ts (wasm inlined) and index-edge.ts (wasm imported
// as modules, for workerd and edge-light). Each entry registers its wasm source, then re-exports this.
export { init, initSync, memoryBytes, runtimeInfo, type InitOptions, type RuntimeInfo, type WasmSource } from './wasm.ts';
export { PerformerError, type PerformerErrorCode } from './errors.ts';
export type { AttentionShape } from './shapes.ts';
export { exactAttention, type ExactAttentionOptions } from './exact.ts';
export { exactAttentionBackward, type ExactAttentionBackwardOptions, type ExactAttentionGradients } from './exact-backward.ts';
export { FavorAttention, type DecoderOptions, type FavorAttentionOptions, type FavorBackwardOptions, type FavorForwardOptions } from './attention.ts';
export type { Gradients } from './backward.ts';
export { FavorDecoder } from './decoder.ts';
export type { KernelName } from './kernels.ts';
export type { ProjectionKind, RowNorms } from './projection.ts';
