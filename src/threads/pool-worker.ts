// A pool worker (Node worker_threads, or a Web Worker): instantiates the threaded module on the shared
// memory it is sent, then waits for rounds of jobs (src/threads/pool-protocol.ts) until told to stop.
import { CRASH, CRASH_CLAIMED, CRASH_REQUESTED, CRASH_TAKEN, fail, GEN, isNode, nodeWorkerThreads, READY, STOP, work } from './pool-protocol.ts';

interface Start {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  base: number;
}

type Port = {
  postMessage(message: unknown): void;
  onMessage(handler: (message: Start) => void): void;
  /** Runs fn as the thread ends (Node: process 'exit', also after an uncaught error). */
  onExit(fn: () => void): void;
  exit(): void;
};

async function port(): Promise<Port> {
  if (isNode()) {
    const { parentPort } = await nodeWorkerThreads();
    if (!parentPort) throw new Error('pool-worker must run in a worker thread');
    const proc = (globalThis as unknown as { process: { on(e: 'exit', fn: () => void): void; exit(code: number): void } }).process;
    return {
      postMessage: (m) => parentPort.postMessage(m),
      onMessage: (h) => parentPort.once('message', (m) => h(m as Start)),
      onExit: (fn) => proc.on('exit', fn),
      exit: () => proc.exit(1),
    };
  }
  const scope = globalThis as unknown as { postMessage(m: unknown): void; onmessage: ((e: MessageEvent) => void) | null; close(): void };
  return {
    postMessage: (m) => scope.postMessage(m),
    onMessage: (h) => { scope.onmessage = (e) => h(e.data as Start); },
    onExit: () => {}, // a Web Worker is not ended by an uncaught error
    exit: () => scope.close(),
  };
}

// no top-level await: Vite bundles workers as classic scripts (IIFE) by default, which cannot have one
void port().then((channel) => channel.onMessage(({ module, memory, base }) => {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const exports = instance.exports as Record<string, unknown>;
  const i32 = new Int32Array(memory.buffer, base, 16);
  Atomics.add(i32, READY, 1);
  Atomics.notify(i32, READY);
  channel.postMessage('ready');
  // a thread that ends while holding a job fails that job, so the calling thread never waits for it
  const current = { job: -1 };
  channel.onExit(() => {
    if (current.job >= 0) fail(i32, current.job);
  });
  // the test hook (Pool.crashWorkerForTest): the first worker to claim a job after the request exits
  // holding it; the calling thread waits for that claim before it takes jobs itself
  const crashIfAsked = () => {
    if (Atomics.compareExchange(i32, CRASH, CRASH_REQUESTED, CRASH_TAKEN) !== CRASH_REQUESTED) return;
    Atomics.store(i32, CRASH, CRASH_CLAIMED);
    Atomics.notify(i32, CRASH);
    if (!isNode()) {
      // a Web Worker has no exit hook: fail the held job here; close() lets the current task finish
      fail(i32, current.job);
      current.job = -1;
    }
    channel.exit();
    throw new Error('pool worker exiting (test hook)');
  };
  let seen = Atomics.load(i32, GEN);
  for (;;) {
    Atomics.wait(i32, GEN, seen);
    seen = Atomics.load(i32, GEN);
    if (Atomics.load(i32, STOP)) break;
    work(exports, memory, base, current, crashIfAsked);
  }
  channel.postMessage('stopped');
}));
