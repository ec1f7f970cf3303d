// performer-wasm: FAVOR+ (Performer) attention and exact attention in WebAssembly SIMD.
// This entry carries the wasm inlined (Node, browsers, Deno, Bun, no bundler step needed).
import './runtime/inline-source.ts';

export * from './api.ts';
