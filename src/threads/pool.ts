// The thread pool: `threads − 1` workers on the same shared wasm memory, plus the calling thread.
// A round publishes jobs (pool-protocol.ts), the calling thread works on them too, then blocks on
// Atomics.wait until every job is done, so the public API stays synchronous. Where the calling
// thread may not block (a browser page's main thread) or memory cannot be shared, there is no pool
// and every call runs on one thread (see threadSupport()).
import type { WasmMemory, WasmModule } from '../runtime/platform-types.ts';
import type { KernelExports } from '../runtime/abi.ts';
import { PerformerError } from '../arguments/errors.ts';
import { CONTROL_BYTES, CRASH, CRASH_REQUESTED, CRASH_TAKEN, DONE, END, ERROR, GEN, isNode, JOB_FUNCTIONS, nodeWorkerThreads, SLOT_WORDS, SLOTS, STOP, work, type JobFunction } from './pool-protocol.ts';

/** One call of a job export with its arguments, typed by the export (src/runtime/abi.ts). */
export type Job = { [F in JobFunction]: { fn: F; args: Parameters<KernelExports[F]> } }[JobFunction];

interface WorkerHandle {
  postMessage(message: unknown): void;
  terminate(): unknown;
}

/** Why threads cannot be used here, or undefined when they can. */
export function threadSupport(): string | undefined {
  if (typeof SharedArrayBuffer === 'undefined') return 'SharedArrayBuffer is not available (a page needs cross-origin isolation: COOP/COEP headers)';
  const g = globalThis as { crossOriginIsolated?: boolean; document?: unknown };
  if (g.crossOriginIsolated === false) return 'the page is not cross-origin isolated';
  if (g.document !== undefined) return "a page's main thread may not block on Atomics.wait: use the package from a Web Worker";
  if (!isNode() && typeof Worker === 'undefined') return 'this runtime has no workers';
  return undefined;
}

export class Pool {
  readonly threads: number;
  private readonly module: WebAssembly.Module;
  private readonly memory: WebAssembly.Memory;
  private readonly exports: Record<string, unknown>;
  private readonly base: number;
  private readonly workers = new Set<Spawned>();
  private stopped = false;
  /** Workers that ended and were replaced (for tests and monitoring). */
  replaced = 0;

  private constructor(threads: number, module: WebAssembly.Module, memory: WebAssembly.Memory, exports: Record<string, unknown>, base: number) {
    this.threads = threads;
    this.module = module;
    this.memory = memory;
    this.exports = exports;
    this.base = base;
  }

  /** Starts threads − 1 workers on `module` and `memory`; `base` is the pool's control block in that memory. */
  static async start(threads: number, module: WasmModule, memory: WasmMemory, exports: Record<string, unknown>,
                     base: number): Promise<Pool> {
    new Int32Array(memory.buffer, base, CONTROL_BYTES / 4).fill(0);
    const pool = new Pool(threads, module, memory, exports, base);
    try {
      await Promise.all(Array.from({ length: threads - 1 }, () => pool.addWorker()));
    } catch (error) {
      pool.stop();
      throw new PerformerError('INIT_FAILED', `a pool worker failed to start: ${error instanceof Error ? error.message : String(error)}`);
    }
    return pool;
  }

  /**
   * Starts one worker and waits until it has instantiated the module. A worker that ends later (an
   * uncaught error, terminate()) is replaced in the background: meanwhile the other threads, the
   * calling one included, take its share of the jobs.
   */
  private async addWorker(): Promise<void> {
    const w = await spawn();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      w.onceMessage((m) => (m === 'ready' ? resolve() : reject(new Error(String(m)))));
      w.onceError(reject);
      timer = setTimeout(() => reject(new Error(`no answer within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
    });
    w.postMessage({ module: this.module, memory: this.memory, base: this.base });
    try {
      await ready;
    } catch (error) {
      w.terminate();
      throw error;
    } finally {
      clearTimeout(timer);
    }
    if (this.stopped) { // the pool gave up meanwhile (another worker failed to start)
      w.terminate();
      return;
    }
    this.workers.add(w);
    w.onceExit(() => {
      this.workers.delete(w);
      if (this.stopped) return;
      this.replaced++;
      this.addWorker().catch(() => {}); // if that fails too, the pool runs with fewer threads
    });
  }

  /**
   * Runs the jobs on every thread, this one included; returns when all are done. A job that threw makes it
   * throw. prepare(i), if given, runs on this thread just before job i is published (to copy its inputs
   * in, say): the other threads start on the first jobs while this one prepares the next. It must not
   * grow memory.
   */
  run(jobs: Job[], prepare?: (i: number) => void): void {
    const i32 = new Int32Array(this.memory.buffer, this.base, CONTROL_BYTES / 4);
    const f64 = new Float64Array(this.memory.buffer);
    for (let from = 0; from < jobs.length; from += SLOTS) {
      const round = jobs.slice(from, from + SLOTS);
      const start = Atomics.load(i32, END);
      Atomics.store(i32, ERROR, 0);
      round.forEach((job, i) => {
        prepare?.(from + i);
        const at = (this.base + CONTROL_BYTES) / 8 + ((start + i) % SLOTS) * SLOT_WORDS;
        f64[at] = JOB_FUNCTIONS.indexOf(job.fn);
        f64[at + 1] = job.args.length;
        f64.set(job.args, at + 2);
        Atomics.store(i32, END, start + i + 1);
        Atomics.add(i32, GEN, 1);
        Atomics.notify(i32, GEN);
      });
      this.awaitCrashClaim(i32);
      work(this.exports, this.memory, this.base);
      for (let done = Atomics.load(i32, DONE); done < start + round.length; done = Atomics.load(i32, DONE)) {
        Atomics.wait(i32, DONE, done, 1000);
      }
      const failed = Atomics.load(i32, ERROR);
      if (failed) throw new WebAssembly.RuntimeError(`job ${failed - 1 - start} (${round[failed - 1 - start]?.fn}) trapped, or its thread ended`);
    }
  }

  /** Stops the workers (they exit after their current round). */
  stop(): void {
    this.stopped = true;
    const i32 = new Int32Array(this.memory.buffer, this.base, CONTROL_BYTES / 4);
    Atomics.store(i32, STOP, 1);
    Atomics.add(i32, GEN, 1);
    Atomics.notify(i32, GEN);
    for (const w of this.workers) w.terminate();
  }

  /** Workers alive now. */
  get live(): number {
    return this.workers.size;
  }

  /**
   * Test hook: in the next round, one worker ends itself while holding a job. That round's calling
   * thread waits until the worker has claimed it (awaitCrashClaim), so the test does not depend on timing.
   */
  crashWorkerForTest(): void {
    Atomics.store(new Int32Array(this.memory.buffer, this.base, CONTROL_BYTES / 4), CRASH, CRASH_REQUESTED);
  }

  private awaitCrashClaim(i32: Int32Array): void {
    // at most 5 s (a pool without live workers would never answer)
    for (let tries = 0, c = Atomics.load(i32, CRASH); (c === CRASH_REQUESTED || c === CRASH_TAKEN) && tries < 50; c = Atomics.load(i32, CRASH), tries++) {
      Atomics.wait(i32, CRASH, c, 100);
    }
    Atomics.store(i32, CRASH, 0);
  }
}

interface Spawned extends WorkerHandle {
  onceMessage(handler: (message: unknown) => void): void;
  onceError(handler: (error: unknown) => void): void;
  onceExit(handler: () => void): void;
}

/** A worker that neither answers nor fails within this time is taken as one that cannot start. */
const START_TIMEOUT_MS = 30_000;

/**
 * pool-worker.js for Node's worker_threads. Run from the TypeScript sources (tests, the bench), workers use
 * the built dist/threads/pool-worker.js: workers do not inherit a TypeScript loader such as tsx. (The URL
 * is resolved against a variable, not import.meta.url itself: webpack takes `new URL(<expression>,
 * import.meta.url)` for a dependency it cannot resolve, and warns "Critical dependency".)
 */
function nodeWorkerUrl(): URL {
  const here = import.meta.url;
  return new URL(here.endsWith('.ts') ? '../../dist/threads/pool-worker.js' : './pool-worker.js', here);
}

/** A worker running pool-worker.js. */
async function spawn(): Promise<Spawned> {
  if (isNode()) {
    const { Worker: NodeWorker } = await nodeWorkerThreads();
    const w = new NodeWorker(nodeWorkerUrl());
    w.unref(); // an idle pool does not keep the process alive
    return {
      postMessage: (m) => w.postMessage(m),
      terminate: () => w.terminate(),
      onceMessage: (h) => w.once('message', h),
      onceError: (h) => w.once('error', h),
      onceExit: (h) => w.once('exit', h),
    };
  }
  // Keep this exact form, a literal path relative to import.meta.url inside `new Worker(…, { type: 'module' })`:
  // Vite and webpack recognize it and bundle pool-worker.js as a worker of its own. esbuild leaves it as
  // it is, so an esbuild app builds performer-wasm/pool-worker as a second entry point beside its bundle.
  const w = new Worker(new URL('./pool-worker.js', import.meta.url), { type: 'module' });
  return {
    postMessage: (m) => w.postMessage(m),
    terminate: () => w.terminate(),
    onceMessage: (h) => w.addEventListener('message', (e) => h(e.data), { once: true }),
    onceError: (h) => w.addEventListener('error', (e) => {
      e.preventDefault(); // reported through init's threadFallback, not as an uncaught error
      h(new Error(workerErrorMessage(e)));
    }, { once: true }),
    onceExit: () => {}, // a Web Worker ends only when terminated, which the pool does itself
  };
}

/**
 * A Web Worker's error event as words: an ErrorEvent (the script threw) has a message; a plain Event
 * means the script could not be loaded at all, typically a bundle without pool-worker.js beside it
 * (the recipes: docs/bundlers.md).
 */
export function workerErrorMessage(event: object): string {
  // the fields of an ErrorEvent, typed here so that the declarations need no DOM lib
  const e = event as { message?: unknown; filename?: string; lineno?: number };
  if (typeof e.message === 'string' && e.message) return `${e.message}${e.filename ? ` (${e.filename}:${e.lineno ?? 0})` : ''}`;
  return 'its script pool-worker.js could not be loaded (esbuild: build performer-wasm/pool-worker as an entry point named pool-worker '
    + "beside the bundle; Vite's dev server: optimizeDeps.exclude ['performer-wasm'])";
}
