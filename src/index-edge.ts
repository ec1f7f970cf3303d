// performer-wasm for workerd / edge-light (the `workerd` and `edge-light` export conditions): the same
// public surface as index.ts (api.ts), with the wasm imported as modules (edge-source.ts) instead of
// inlined: those runtimes refuse to compile wasm from bytes.
import './runtime/edge-source.ts';

export * from './api.ts';
