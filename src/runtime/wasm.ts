// The running instance: its exports, the one memory that every call works in, and the slot that holds it
// (load.ts fills it at init and after a trap).
import type { WasmInstance, WasmModule } from './platform-types.ts';
import type { KernelExports } from './abi.ts';
import { PerformerError } from '../arguments/errors.ts';
import { Heap } from './heap.ts';
import type { Pool } from '../threads/pool.ts';

export interface RuntimeInfo {
  build: Runtime['build'];
  /** Threads that forward() uses (1 without a pool). */
  threads: number;
  /** Why fewer threads than asked for are used, if so. */
  threadFallback?: string;
}

let current: Runtime | undefined;
/** The module `current` was instantiated from: rebuild() makes a fresh instance of it after a trap. */
let currentModule: WasmModule | undefined;

/** Floats of the block that input scans go through (src/runtime/finite.ts): 64 KiB. */
export const SCAN_FLOATS = 16384;

/** A live instance: its exports, its heap, and typed views that follow memory growth. */
export class Runtime {
  readonly exports: KernelExports;
  readonly heap: Heap;
  /** Which build is running. */
  readonly build: 'baseline' | 'relaxed' | 'custom';
  /** The worker pool of a threaded instance (shared memory), else undefined. */
  readonly pool: Pool | undefined;
  /** Why threads asked for at init are not used, if so. */
  threadFallback: string | undefined;
  /**
   * Why this instance is no longer the running one (set when init() or rebuild() replaces it), else
   * undefined. Decoders keep their state in the memory of the instance they were created on, so they
   * check this and refuse to work on a retired instance (src/decoder/decoder.ts).
   */
  retired: 'reinit' | 'fault' | undefined = undefined;
  /** SCAN_FLOATS floats for the input scans, allocated with the instance so that a scan never grows memory. */
  readonly scanBlock: number;
  /** The views over memory's current buffer (a grown memory detaches old views: they are remade on first use after). */
  private views: MemoryViews;
  private scratchPtr = 0;
  private scratchSize = 0;

  /** Bytes kept free above __heap_base (a shared-memory instance's pool control block). */
  readonly reserved: number;

  constructor(instance: WasmInstance, build: Runtime['build'], pool?: Pool, reserved = 0) {
    this.exports = instance.exports as unknown as KernelExports;
    this.build = build;
    this.pool = pool;
    this.reserved = reserved;
    this.heap = new Heap(this.exports.memory, this.exports.heapBase() + reserved);
    this.views = memoryViews(this.exports.memory.buffer);
    this.scanBlock = this.heap.alloc(4 * SCAN_FLOATS);
  }

  /** Float32 view of all of memory; recreated after growth (a grown memory detaches old views). */
  get f32(): Float32Array {
    return this.current().f32;
  }

  get u8(): Uint8Array {
    return this.current().u8;
  }

  get f64(): Float64Array {
    return this.current().f64;
  }

  /** A DataView of all of memory, for writing descriptors (src/runtime/descriptors.ts). */
  get data(): DataView {
    return this.current().data;
  }

  private current(): MemoryViews {
    const buffer = this.exports.memory.buffer;
    if (this.views.data.buffer !== buffer) this.views = memoryViews(buffer);
    return this.views;
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

interface MemoryViews {
  f32: Float32Array;
  u8: Uint8Array;
  f64: Float64Array;
  data: DataView;
}

function memoryViews(buffer: ArrayBufferLike): MemoryViews {
  return { f32: new Float32Array(buffer), u8: new Uint8Array(buffer), f64: new Float64Array(buffer), data: new DataView(buffer) };
}

/** The running instance, or NOT_INITIALIZED. */
export function runtime(): Runtime {
  if (!current) throw new PerformerError('NOT_INITIALIZED', 'call `await init()` (or `initSync()`) before using performer-wasm');
  return current;
}

/** Bytes of wasm linear memory now. */
export function memoryBytes(): number {
  return runtime().exports.memory.buffer.byteLength;
}

/** The running build and its threads. */
export function runtimeInfo(): RuntimeInfo {
  const rt = runtime();
  return { build: rt.build, threads: rt.pool?.threads ?? 1, ...(rt.threadFallback ? { threadFallback: rt.threadFallback } : {}) };
}

/** Makes `rt` the running instance; the one it replaces is retired (and its pool stopped). */
export function install(rt: Runtime, module: WasmModule): void {
  if (current) {
    current.retired = 'reinit';
    if (current.pool !== rt.pool) current.pool?.stop();
  }
  current = rt;
  currentModule = module;
}

/** The running instance and the module it was instantiated from, if any. */
export function installed(): { rt: Runtime; module: WasmModule } | undefined {
  return current && currentModule ? { rt: current, module: currentModule } : undefined;
}
