// The few platform types the public declarations name, written so that they need no DOM lib: a consumer
// compiling with only an ES lib (no DOM, no @types/node) would otherwise hit "Cannot find namespace
// 'WebAssembly'". Each resolves to the real type where some lib declares it (DOM, webworker, a runtime's
// own types) and to a stand-in where none does. Types only: nothing here exists at run time.
type Globals = typeof globalThis;

/** `WebAssembly.Module` where a lib declares it, else an opaque object. */
export type WasmModule = Globals extends { WebAssembly: { Module: { prototype: infer T } } } ? T : object;
/** `WebAssembly.Instance` where a lib declares it, else an object with exports. */
export type WasmInstance = Globals extends { WebAssembly: { Instance: { prototype: infer T } } } ? T : { readonly exports: object };
/** `WebAssembly.Memory` where a lib declares it, else an object with a buffer. */
export type WasmMemory = Globals extends { WebAssembly: { Memory: { prototype: infer T } } } ? T : { readonly buffer: ArrayBuffer };
/** The fetch API's `Response` where a lib declares it (DOM, @types/node ≥ 18), else never. */
export type FetchResponse = Globals extends { Response: { prototype: infer T } } ? T : never;
/** `URL` where a lib declares it (DOM, @types/node), else an object with an href. */
export type WebUrl = Globals extends { URL: { prototype: infer T } } ? T : { readonly href: string };
