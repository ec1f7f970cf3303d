// performer-wasm/threads: importing this entry (once, anywhere, before `init`) lets
// `init(source?, { threads: n })` start a pool of n − 1 workers. It carries the pool, the worker
// (pool-worker.js, which Vite and webpack find through `new Worker(new URL(…), …)` in pool.ts) and the
// shared-memory builds inlined as base64; an app that never imports it bundles none of them.
import { relaxedThreadsWasmBase64, threadsWasmBase64 } from '../generated/wasm-threads-inline.ts';
import { decodeBase64 } from '../runtime/base64.ts';
import { registerThreads } from '../runtime/threads-registry.ts';
import { POOL_BYTES } from './pool-protocol.ts';
import { Pool, threadSupport } from './pool.ts';
import { threadedForward } from './threaded.ts';
import { threadedHybridForward } from './threaded-hybrid.ts';

let baseline: Uint8Array | undefined;
let relaxed: Uint8Array | undefined;

registerThreads({
  unsupported: threadSupport,
  build: (useRelaxed) => (useRelaxed ? (relaxed ??= decodeBase64(relaxedThreadsWasmBase64)) : (baseline ??= decodeBase64(threadsWasmBase64))),
  controlBytes: POOL_BYTES,
  start: Pool.start,
  forward: threadedForward,
  hybridForward: threadedHybridForward,
});
