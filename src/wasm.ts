// Loading the wasm module, and the one memory that every call works in.
import type { KernelExports } from './abi.ts';
import { PerformerError } from './errors.ts';
import { Heap } from './heap.ts';
import { checkBoolean, checkOptions, describe } from './validate.ts';

/** What `init` accepts: a compiled module, the .wasm bytes, or a fetch Response (or its promise). */
export type WasmSource = WebAssembly.Module | ArrayBuffer | ArrayBufferView | Response | PromiseLike<Response>;

export interface InitOptions {
  /**
   * Use the relaxed-SIMD build (fused multiply–add) when the engine validates it. Default true.
   * false forces the baseline SIMD build, whose results are bit-identical in every runtime.
   */
  relaxedSimd?: boolean;
}

/** Where the default builds come from: inlined bytes (index.ts) or imported modules (edge entry). */
export interface DefaultSources {
  baseline(): WebAssembly.Module | Uint8Array;
  relaxed(): WebAssembly.Module | Uint8Array;
}

let defaults: DefaultSources | undefined;
let current: Runtime | undefined;
/** The module `current` was instantiated from: rebuild() makes a fresh instance of it after a trap. */
let currentModule: WebAssembly.Module | undefined;

export function setDefaultSources(sources: DefaultSources): void {
  defaults = sources;
}

/** A live instance: its exports, its heap, and typed views that follow memory growth. */
export class Runtime {
  readonly exports: KernelExports;
  readonly heap: Heap;
  /** Which build is running. */
  readonly build: 'baseline' | 'relaxed' | 'custom';
  /**
   * Why this instance is no longer the running one (set when init() or rebuild() replaces it), else
   * undefined. Decoders keep their state in the memory of the instance they were created on, so they
   * check this and refuse to work on a retired instance (src/decoder.ts).
   */
  retired: 'reinit' | 'fault' | undefined = undefined;
  private f32View: Float32Array;
  private u8View: Uint8Array;
  private f64View: Float64Array;
  private scratchPtr = 0;
  private scratchSize = 0;

  constructor(instance: WebAssembly.Instance, build: Runtime['build']) {
    this.exports = instance.exports as unknown as KernelExports;
    this.build = build;
    this.heap = new Heap(this.exports.memory, this.exports.heapBase());
    this.f32View = new Float32Array(this.exports.memory.buffer);
    this.u8View = new Uint8Array(this.exports.memory.buffer);
    this.f64View = new Float64Array(this.exports.memory.buffer);
  }

  /** Float32 view of all of memory; recreated after growth (a grown memory detaches old views). */
  get f32(): Float32Array {
    if (this.f32View.buffer !== this.exports.memory.buffer) this.f32View = new Float32Array(this.exports.memory.buffer);
    return this.f32View;
  }

  get u8(): Uint8Array {
    if (this.u8View.buffer !== this.exports.memory.buffer) this.u8View = new Uint8Array(this.exports.memory.buffer);
    return this.u8View;
  }

  get f64(): Float64Array {
    if (this.f64View.buffer !== this.exports.memory.buffer) this.f64View = new Float64Array(this.exports.memory.buffer);
    return this.f64View;
  }

  /** A scratch block of at least `bytes`, shared by all calls (one call runs at a time). Grows only. */
  scratch(bytes: number): number {
    if (bytes > this.scratchSize) {
      if (this.scratchPtr) this.heap.release(this.scratchPtr);
      this.scratchPtr = 0;
      this.scratchSize = 0;
      this.scratchPtr = this.heap.alloc(bytes);
      this.scratchSize = bytes;
    }
    return this.scratchPtr;
  }

  /** Copies `src` into memory at byte address `ptr`. */
  write(ptr: number, src: Float32Array): void {
    this.f32.set(src, ptr >>> 2);
  }

  /** A Float32Array view of `length` floats at `ptr`; valid until memory grows. */
  view(ptr: number, length: number): Float32Array {
    return this.f32.subarray(ptr >>> 2, (ptr >>> 2) + length);
  }
}

/** Byte offsets of named f32 regions inside one workspace block, each 64-byte aligned. */
export function planWorkspace<K extends string>(floats: Record<K, number>): { offsets: Record<K, number>; bytes: number } {
  const offsets = {} as Record<K, number>;
  let bytes = 0;
  for (const key of Object.keys(floats) as K[]) {
    offsets[key] = bytes;
    bytes += Math.ceil((floats[key] * 4) / 64) * 64;
  }
  return { offsets, bytes };
}

/** The running instance, or NOT_INITIALIZED. */
export function runtime(): Runtime {
  if (!current) throw new PerformerError('NOT_INITIALIZED', 'call `await init()` (or `initSync()`) before using performer-wasm');
  return current;
}

export function isInitialized(): boolean {
  return current !== undefined;
}

/** Bytes of wasm linear memory now. */
export function memoryBytes(): number {
  return runtime().exports.memory.buffer.byteLength;
}

/** Compiles and instantiates the module. With no source, the build that comes with the package. */
export async function init(source?: WasmSource, options?: InitOptions): Promise<void> {
  readInitOptions('init', options);
  if (source === undefined) return initSync(undefined, options);
  let module: WebAssembly.Module;
  try {
    module = await compile(await source);
  } catch (error) {
    throw initFailed(error);
  }
  instantiate(module, 'custom');
}

/** Like `init`, synchronously. Browsers refuse synchronous compiles of large modules on the main thread: use `init` there. */
export function initSync(source?: WebAssembly.Module | ArrayBuffer | ArrayBufferView, options?: InitOptions): void {
  const relaxed = readInitOptions('initSync', options);
  if (source === undefined) {
    if (!defaults) throw new PerformerError('INIT_FAILED', 'no wasm source: import performer-wasm through its package entry');
    const relaxedSource = relaxed ? defaults.relaxed() : undefined;
    const useRelaxed = relaxedSource !== undefined && isValid(relaxedSource);
    const chosen = useRelaxed ? relaxedSource : defaults.baseline();
    instantiate(toModule(chosen), useRelaxed ? 'relaxed' : 'baseline');
    return;
  }
  if (source instanceof Promise || (typeof Response !== 'undefined' && source instanceof Response)) {
    throw new PerformerError('INVALID_TYPE', 'initSync cannot take a Response: use `await init(response)`');
  }
  instantiate(toModule(source), 'custom');
}

function readInitOptions(fn: string, options: unknown): boolean {
  const o = checkOptions<InitOptions>(fn, options, ['relaxedSimd']);
  return checkBoolean('relaxedSimd', o.relaxedSimd, true);
}

async function compile(source: WebAssembly.Module | ArrayBuffer | ArrayBufferView | Response): Promise<WebAssembly.Module> {
  if (source instanceof WebAssembly.Module) return source;
  if (typeof Response !== 'undefined' && source instanceof Response) {
    if (!source.ok) throw new Error(`HTTP ${source.status}`);
    return WebAssembly.compile(await source.arrayBuffer());
  }
  return WebAssembly.compile(bytesOf(source));
}

function toModule(source: WebAssembly.Module | ArrayBuffer | ArrayBufferView): WebAssembly.Module {
  if (source instanceof WebAssembly.Module) return source;
  try {
    return new WebAssembly.Module(bytesOf(source));
  } catch (error) {
    throw initFailed(error);
  }
}

function isValid(source: WebAssembly.Module | Uint8Array): boolean {
  return source instanceof WebAssembly.Module || WebAssembly.validate(bytesOf(source));
}

function bytesOf(source: unknown): Uint8Array<ArrayBuffer> {
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (ArrayBuffer.isView(source) && source.buffer instanceof ArrayBuffer) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  throw new PerformerError('INVALID_TYPE', `init: source must be a WebAssembly.Module, bytes or a Response, got ${describe(source)}`);
}

function instantiate(module: WebAssembly.Module, build: Runtime['build']): void {
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(module, {});
  } catch (error) {
    throw initFailed(error);
  }
  const exports = instance.exports as Record<string, unknown>;
  if (!(exports.memory instanceof WebAssembly.Memory) || typeof exports.heapBase !== 'function') {
    throw new PerformerError('INIT_FAILED', 'this wasm module is not a performer-wasm build');
  }
  if (current) current.retired = 'reinit';
  current = new Runtime(instance, build);
  currentModule = module;
}

/**
 * After a wasm trap (src/guard.ts): replaces the running instance with a fresh instance of the same
 * module, with a new, empty memory, since the trapped one may hold half-written buffers. The old
 * instance is marked retired ('fault'); decoders whose state lived in it then throw INVALID_STATE.
 */
export function rebuild(): void {
  if (!current || !currentModule) return;
  const old = current;
  instantiate(currentModule, old.build);
  old.retired = 'fault';
}

function initFailed(error: unknown): PerformerError {
  if (error instanceof PerformerError) return error;
  return new PerformerError('INIT_FAILED', `could not load the wasm module: ${error instanceof Error ? error.message : String(error)}`);
}
