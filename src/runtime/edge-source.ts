// Default wasm source for workerd (Cloudflare Workers), edge-light (Vercel Edge) and other runtimes that
// refuse to compile wasm from bytes ("Wasm code generation disallowed by embedder") but accept a .wasm
// file imported as a module: the import gives a compiled WebAssembly.Module. The build copies both
// .wasm files next to this file in dist/ (scripts/copy-wasm.mjs), so the relative imports resolve.
// @ts-ignore: TypeScript has no type for a .wasm import; the runtime (or bundler) gives a WebAssembly.Module
import baselineModule from '../performer.wasm';
// @ts-ignore: as above
import relaxedModule from '../performer-relaxed.wasm';
import { setDefaultSources } from './load.ts';

setDefaultSources({
  baseline: () => baselineModule as WebAssembly.Module,
  relaxed: () => relaxedModule as WebAssembly.Module,
});
