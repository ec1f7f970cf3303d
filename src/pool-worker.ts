// A pool worker (Node worker_threads, or a Web Worker): instantiates the threaded module on the shared
// memory it is sent, then waits for rounds of jobs (src/pool-protocol.ts) until told to stop.
import { GEN, isNode, nodeWorkerThreads, READY, STOP, work } from './pool-protocol.ts';

interface Start {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  base: number;
}

type Port = { postMessage(message: unknown): void; onMessage(handler: (message: Start) => void): void };

async function port(): Promise<Port> {
  if (isNode()) {
    const { parentPort } = await nodeWorkerThreads();
    if (!parentPort) throw new Error('pool-worker must run in a worker thread');
    return { postMessage: (m) => parentPort.postMessage(m), onMessage: (h) => parentPort.once('message', (m) => h(m as Start)) };
  }
  const scope = globalThis as unknown as { postMessage(m: unknown): void; onmessage: ((e: MessageEvent) => void) | null };
  return { postMessage: (m) => scope.postMessage(m), onMessage: (h) => { scope.onmessage = (e) => h(e.data as Start); } };
}

const channel = await port();
channel.onMessage(({ module, memory, base }) => {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const exports = instance.exports as Record<string, unknown>;
  const i32 = new Int32Array(memory.buffer, base, 16);
  Atomics.add(i32, READY, 1);
  Atomics.notify(i32, READY);
  channel.postMessage('ready');
  let seen = Atomics.load(i32, GEN);
  for (;;) {
    Atomics.wait(i32, GEN, seen);
    seen = Atomics.load(i32, GEN);
    if (Atomics.load(i32, STOP)) break;
    work(exports, memory, base);
  }
  channel.postMessage('stopped');
});
