// performer-wasm for workerd / edge-light (the `workerd` and `edge-light` export conditions): the same
// public surface as index.ts, with the wasm imported as modules (edge-source.ts) instead of inlined.
// Keep the export lines identical to index.ts (test/package.test.ts checks it; scripts/sync-edge-entry.mjs
// rewrites this file from index.ts).
import './edge-source.ts';

export { init, initSync, memoryBytes, runtimeInfo, type InitOptions, type RuntimeInfo, type WasmSource } from './wasm.ts';
export { PerformerError, type PerformerErrorCode } from './errors.ts';
export type { AttentionShape } from './shapes.ts';
export { exactAttention, type ExactAttentionOptions } from './exact.ts';
export { FavorAttention, type DecoderOptions, type FavorAttentionOptions, type FavorBackwardOptions, type FavorForwardOptions } from './attention.ts';
export type { Gradients } from './backward.ts';
export { FavorDecoder } from './decoder.ts';
export type { KernelName } from './kernels.ts';
export type { ProjectionKind, RowNorms } from './projection.ts';
export { exactAttentionBackward, type ExactAttentionBackwardOptions, type ExactAttentionGradients } from './exact-backward.ts';
