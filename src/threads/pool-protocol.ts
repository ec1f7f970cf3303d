// The job protocol shared by the pool (src/threads/pool.ts) and its workers (src/threads/pool-worker.ts). Everything
// lives in wasm shared memory: a control block of Int32 words, then a ring of job slots of f64 words.
//
// A job is one call of a wasm export with numeric arguments. Jobs are numbered from 0 forever: the
// main thread publishes jobs [start, end) by writing their slots and then END; any thread claims the
// next job with compare-and-swap on NEXT (never past END, so no thread can take a job of a later
// round), runs it, and increments DONE. The main thread joins in, then waits until DONE reaches END.
import type { WasmMemory, WebUrl } from '../runtime/platform-types.ts';
import type { KernelName } from '../runtime/abi.ts';

/** Int32 word indices in the control block. */
export const GEN = 0; // bumped (and notified) when jobs are published; idle workers wait on it
export const NEXT = 1; // the next job to claim
export const END = 2; // one past the last published job
export const DONE = 3; // jobs finished (by any thread)
export const STOP = 4; // 1: workers exit
export const ERROR = 5; // 0, or 1 + the number of a job that threw
export const READY = 6; // workers that have instantiated the module
export const CRASH = 7; // test hook: see Pool.crashWorkerForTest
export const CRASH_REQUESTED = 1; // the next worker that wakes is to exit while holding a job
export const CRASH_TAKEN = 2; // a worker took that role and is claiming its job
export const CRASH_CLAIMED = 3; // it holds the job (and is exiting)

export const CONTROL_BYTES = 64;
export const SLOT_WORDS = 32; // f64 words per job: [function index, argument count, arguments…]
export const SLOTS = 64; // jobs in flight at most
export const POOL_BYTES = CONTROL_BYTES + SLOTS * SLOT_WORDS * 8;

/** The exports a job may call, by index. */
export const JOB_FUNCTIONS = ['favor_bidirectional', 'favor_causal', 'favor_accumulate', 'favor_readout', 'exact_attention', 'hybrid_bidirectional_head',
                              'hybrid_causal_head'] as const satisfies readonly KernelName[];
export type JobFunction = (typeof JOB_FUNCTIONS)[number];

/** Runs job `j` from its slot on `exports`. */
export function runJob(exports: Record<string, unknown>, f64: Float64Array, base: number, j: number): void {
  const at = (base + CONTROL_BYTES) / 8 + (j % SLOTS) * SLOT_WORDS;
  const fn = exports[JOB_FUNCTIONS[f64[at]]] as (...args: number[]) => void;
  const argc = f64[at + 1];
  const args = new Array<number>(argc);
  for (let i = 0; i < argc; i++) args[i] = f64[at + 2 + i];
  fn(...args);
}

/** Claims the next published job; returns its number, or −1 when none is left. */
export function claim(i32: Int32Array): number {
  for (;;) {
    const j = Atomics.load(i32, NEXT);
    if (j >= Atomics.load(i32, END)) return -1;
    if (Atomics.compareExchange(i32, NEXT, j, j + 1) === j) return j;
  }
}

/** Marks job j failed and done (a trap, or the death of the thread that held it). */
export function fail(i32: Int32Array, j: number): void {
  Atomics.compareExchange(i32, ERROR, 0, j + 1);
  Atomics.add(i32, DONE, 1);
  Atomics.notify(i32, DONE);
}

/**
 * Claims and runs jobs until none is left; returns how many this thread ran. `current.job` holds the
 * job being run (−1 between jobs), so that a dying worker can fail it (pool-worker.ts); `onClaim` runs
 * as each job is claimed (the workers' test hook).
 */
export function work(exports: Record<string, unknown>, memory: WasmMemory, base: number, current = { job: -1 },
                     onClaim?: (j: number) => void): number {
  const i32 = new Int32Array(memory.buffer, base, CONTROL_BYTES / 4);
  const f64 = new Float64Array(memory.buffer);
  let ran = 0;
  for (;;) {
    const j = claim(i32);
    if (j < 0) return ran;
    current.job = j;
    onClaim?.(j);
    try {
      runJob(exports, f64, base, j);
    } catch {
      current.job = -1;
      fail(i32, j);
      ran++;
      continue;
    }
    current.job = -1;
    ran++;
    Atomics.add(i32, DONE, 1);
    Atomics.notify(i32, DONE);
  }
}

/** True in Node (and Bun, which also provides node:worker_threads), without needing Node's types. */
export function isNode(): boolean {
  const g = globalThis as { process?: { versions?: { node?: unknown } } };
  return typeof g.process?.versions?.node === 'string';
}

/** The parts of node:worker_threads the pool uses (typed here so that the package needs no Node types). */
export interface NodeWorkerThreads {
  Worker: new (url: WebUrl) => {
    postMessage(message: unknown): void;
    terminate(): unknown;
    unref(): void;
    once(event: 'message' | 'error' | 'exit', handler: (value: unknown) => void): void;
  };
  parentPort: { postMessage(message: unknown): void; once(event: 'message', handler: (value: unknown) => void): void } | null;
}

/** node:worker_threads, imported by a computed name so that bundlers for the web leave it alone. */
export async function nodeWorkerThreads(): Promise<NodeWorkerThreads> {
  const name = 'node:worker_threads';
  return (await import(/* @vite-ignore */ /* webpackIgnore: true */ name)) as NodeWorkerThreads;
}
