// The public surface, shared by both entries: index.ts (wasm inlined) and index-edge.ts (wasm imported
// as modules, for workerd and edge-light). Each entry registers its wasm source, then re-exports this.
export { init, initSync, type InitOptions, type WasmSource } from './runtime/load.ts';
export { memoryBytes, runtimeInfo, type RuntimeInfo } from './runtime/wasm.ts';
export { PerformerError, type PerformerErrorCode } from './arguments/errors.ts';
export type { AttentionShape } from './arguments/shapes.ts';
export { exactAttention, type ExactAttentionOptions } from './exact/exact.ts';
export { exactAttentionBackward, type ExactAttentionBackwardOptions, type ExactAttentionGradients } from './exact/exact-backward.ts';
export { FavorAttention } from './favor/attention.ts';
export type { DecoderOptions, FavorAttentionOptions, FavorBackwardOptions, FavorForwardOptions, FeatureRows } from './favor/options.ts';
export type { FeatureGradients } from './feature-maps/feature-gradients.ts';
export { fitFeatureMap, type FitFeatureMapOptions, type FitProgress, type FitResult, type FitSample, type FittableKernel, type FittedMapOptions } from './fit/fit.ts';
export type { Gradients } from './favor/backward.ts';
export { FavorDecoder, type PrefillOptions } from './decoder/decoder.ts';
export type { KernelName } from './feature-maps/kernels.ts';
export type { ProjectionKind, RowNorms } from './projection/projection.ts';
