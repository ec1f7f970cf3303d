// performer-wasm/performer.wasm and performer-wasm/performer-relaxed.wasm, as workerd, wrangler and other
// runtimes that import .wasm files as modules give them: a compiled WebAssembly.Module, for init(module).
// (A bundler that turns a .wasm import into a URL, such as Vite's `?url` suffix, types that import itself.)
// scripts/copy-wasm.mjs copies this file beside each .wasm in dist/; the package's exports point to it.
import type { WasmModule } from './runtime/platform-types.js';

declare const wasmModule: WasmModule;
export default wasmModule;
