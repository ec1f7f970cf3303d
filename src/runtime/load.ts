// Loading the wasm module: init / initSync pick, compile and instantiate a build (and start the thread pool
// when asked for); rebuild replaces the running instance after a trap.
import type { FetchResponse, WasmModule } from './platform-types.ts';
import type { KernelExports } from './abi.ts';
import { PerformerError } from '../arguments/errors.ts';
import type { Pool } from '../threads/pool.ts';
import { threadsPart, type ThreadsPart } from './threads-registry.ts';
import { checkBoolean, checkOptions, checkSize, describe } from '../arguments/validate.ts';
import { install, installed, Runtime, runtime } from './wasm.ts';

/** What `init` accepts: a compiled module, the .wasm bytes, or a fetch Response (or its promise). */
export type WasmSource = WasmModule | ArrayBuffer | ArrayBufferView | FetchResponse | PromiseLike<FetchResponse>;

export interface InitOptions {
  /**
   * Use the relaxed-SIMD build (fused multiply–add) when the engine validates it. Default true.
   * false forces the baseline SIMD build, whose results are bit-identical in every runtime.
   */
  relaxedSimd?: boolean;
  /**
   * Threads for FavorAttention.forward: batch × heads are spread over a pool of workers sharing one
   * memory (and a single bidirectional head is split along the sequence). Default 1. Needs `init`
   * (not initSync) and `import 'performer-wasm/threads'` first; where workers or shared memory are
   * unavailable, or a worker cannot start, it falls back to one thread and runtimeInfo().threadFallback
   * says why.
   */
  threads?: number;
}

/** Where the default builds come from: inlined bytes (index.ts) or imported modules (edge entry). */
export interface DefaultSources {
  baseline(): WasmModule | Uint8Array;
  relaxed(): WasmModule | Uint8Array;
}

let defaults: DefaultSources | undefined;

export function setDefaultSources(sources: DefaultSources): void {
  defaults = sources;
}

/** Compiles and instantiates the module. With no source, the build that comes with the package. */
export async function init(source?: WasmSource, options?: InitOptions): Promise<void> {
  const { relaxed, threads } = readInitOptions('init', options);
  const part = threads > 1 ? threadsPart() : undefined;
  if (threads > 1 && !part) {
    throw new PerformerError('INVALID_OPTION', "threads > 1 need the thread pool: `import 'performer-wasm/threads'` once before init");
  }
  const unsupported = part?.unsupported();
  if (part && !unsupported) return initThreaded(part, source, relaxed, threads);
  if (source === undefined) {
    initSync(undefined, { relaxedSimd: relaxed });
  } else {
    let module: WebAssembly.Module;
    let build: Runtime['build'];
    try {
      const given = await readSource(await source);
      build = buildOf(given, { baseline: defaults?.baseline(), relaxed: defaults?.relaxed() });
      module = await compile(given);
    } catch (error) {
      throw initFailed(error);
    }
    instantiate(module, build);
  }
  if (unsupported) runtime().threadFallback = unsupported;
}

/**
 * A shared-memory instance and a pool of threads − 1 workers on it. If a worker cannot start (its
 * script is missing from a bundle, say), the instance runs on one thread and threadFallback says why.
 */
async function initThreaded(part: ThreadsPart, source: WasmSource | undefined, relaxed: boolean, threads: number): Promise<void> {
  let module: WebAssembly.Module;
  let build: Runtime['build'] = 'custom';
  try {
    if (source !== undefined) {
      const given = await readSource(await source);
      build = buildOf(given, { baseline: part.build(false), relaxed: part.build(true) });
      module = await compile(given);
    } else {
      const relaxedBuild = relaxed ? part.build(true) : undefined;
      const useRelaxed = relaxedBuild !== undefined && isValid(relaxedBuild);
      module = await compile(useRelaxed ? relaxedBuild : part.build(false));
      build = useRelaxed ? 'relaxed' : 'baseline';
    }
  } catch (error) {
    throw initFailed(error);
  }
  if (!importsMemory(module)) {
    throw new PerformerError('INIT_FAILED', 'threads need a shared-memory build (one that imports its memory)');
  }
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 65536, shared: true });
  const instance = instantiateWith(module, { env: { memory } });
  const base = alignedPoolBase(instance);
  const reserved = base + part.controlBytes - heapBaseOf(instance);
  let pool: Pool | undefined;
  let fallback: string | undefined;
  try {
    pool = await part.start(threads, module, memory, instance.exports as Record<string, unknown>, base);
  } catch (error) {
    fallback = `${error instanceof Error ? error.message : String(error)}; running on one thread`;
  }
  install(new Runtime(instance, build, pool, reserved), module);
  if (fallback) runtime().threadFallback = fallback;
}

function heapBaseOf(instance: WebAssembly.Instance): number {
  return (instance.exports as unknown as KernelExports).heapBase();
}

/** The pool's control block sits right above static data, 64-byte aligned, before the heap. */
function alignedPoolBase(instance: WebAssembly.Instance): number {
  return Math.ceil(heapBaseOf(instance) / 64) * 64;
}

/**
 * Like `init`, synchronously (one thread). Chromium refuses a synchronous compile of more than 8 MB on a page's
 * main thread; the package's builds (about 50 KB) compile there without complaint, but `init` keeps the page responsive.
 */
export function initSync(source?: WasmModule | ArrayBuffer | ArrayBufferView, options?: InitOptions): void {
  const { relaxed, threads } = readInitOptions('initSync', options);
  if (threads > 1) throw new PerformerError('INVALID_OPTION', 'threads need `await init(source, { threads })`: starting workers is asynchronous');
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
  instantiate(toModule(source), defaults ? buildOf(source, { baseline: defaults.baseline(), relaxed: defaults.relaxed() }) : 'custom');
}

function readInitOptions(fn: string, options: unknown): { relaxed: boolean; threads: number } {
  const o = checkOptions<InitOptions>(fn, options, ['relaxedSimd', 'threads']);
  return { relaxed: checkBoolean('relaxedSimd', o.relaxedSimd, true), threads: checkSize('threads', o.threads ?? 1) };
}

/** A Response's body as bytes (an HTTP error throws); any other source as it is. */
async function readSource(source: WebAssembly.Module | ArrayBuffer | ArrayBufferView | Response): Promise<WebAssembly.Module | ArrayBuffer | ArrayBufferView> {
  if (typeof Response !== 'undefined' && source instanceof Response) {
    if (!source.ok) throw new Error(`HTTP ${source.status}`);
    return source.arrayBuffer();
  }
  return source;
}

async function compile(source: WebAssembly.Module | ArrayBuffer | ArrayBufferView): Promise<WebAssembly.Module> {
  if (source instanceof WebAssembly.Module) return source;
  return WebAssembly.compile(bytesOf(source));
}

/**
 * Which of the package's own builds `source` is, byte for byte ('custom' when it is none of them, or when
 * it is a compiled WebAssembly.Module, whose bytes cannot be read back): init(bytes of performer.wasm)
 * reports 'baseline', as init() does.
 */
function buildOf(source: unknown, own: { baseline?: WebAssembly.Module | Uint8Array; relaxed?: WebAssembly.Module | Uint8Array }): Runtime['build'] {
  if (source instanceof WebAssembly.Module || !(source instanceof ArrayBuffer || ArrayBuffer.isView(source))) return 'custom';
  const bytes = source instanceof ArrayBuffer ? new Uint8Array(source) : new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  for (const build of ['baseline', 'relaxed'] as const) {
    const candidate = own[build];
    if (candidate instanceof Uint8Array && sameBytes(bytes, candidate)) return build;
  }
  return 'custom';
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
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
  if (importsMemory(module)) {
    throw new PerformerError('INIT_FAILED', 'this is a shared-memory build: use `await init(source, { threads })`');
  }
  install(new Runtime(instantiateWith(module, {}), build), module);
}

/** A shared-memory build imports its memory; the one-thread builds define their own. */
function importsMemory(module: WebAssembly.Module): boolean {
  return WebAssembly.Module.imports(module).some((i) => i.kind === 'memory');
}

function instantiateWith(module: WebAssembly.Module, imports: WebAssembly.Imports): WebAssembly.Instance {
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(module, imports);
  } catch (error) {
    throw initFailed(error);
  }
  const exports = instance.exports as Record<string, unknown>;
  if (!(exports.memory instanceof WebAssembly.Memory) || typeof exports.heapBase !== 'function') {
    throw new PerformerError('INIT_FAILED', 'this wasm module is not a performer-wasm build');
  }
  return instance;
}

/**
 * After a wasm trap (src/runtime/guard.ts): replaces the running instance with a fresh instance of the same
 * module, with a new, empty memory, since the trapped one may hold half-written buffers. The old
 * instance is marked retired ('fault'); decoders whose state lived in it then throw INVALID_STATE.
 */
export function rebuild(): void {
  const running = installed();
  if (!running) return;
  const { rt: old, module } = running;
  if (importsMemory(module)) {
    // a shared-memory instance keeps its memory and workers (they hold no state between rounds): a
    // fresh heap over the same instance abandons every block the old one handed out
    const instance = { exports: old.exports } as unknown as WebAssembly.Instance;
    install(new Runtime(instance, old.build, old.pool, old.reserved), module);
  } else {
    instantiate(module, old.build);
  }
  old.retired = 'fault';
}

function initFailed(error: unknown): PerformerError {
  if (error instanceof PerformerError) return error;
  return new PerformerError('INIT_FAILED', `could not load the wasm module: ${error instanceof Error ? error.message : String(error)}`);
}
