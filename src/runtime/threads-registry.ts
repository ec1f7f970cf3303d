// The thread pool is an optional part of the package. The `performer-wasm/threads` entry
// (src/threads/index.ts) registers it here on import; the core entries never import src/threads/ (only
// its types), so an app that does not ask for threads bundles neither the pool, its worker, nor the
// shared-memory builds (two wasm modules, ~230 kB of base64).
import type { Pool } from '../threads/pool.ts';
import type { threadedForward } from '../threads/threaded.ts';
import type { threadedHybridForward } from '../threads/threaded-hybrid.ts';

export interface ThreadsPart {
  /** Why threads cannot run here (no shared memory, a page's main thread, no workers), or undefined. */
  unsupported(): string | undefined;
  /** The shared-memory build that comes with the package: relaxed SIMD or baseline. */
  build(relaxed: boolean): WebAssembly.Module | Uint8Array;
  /** Bytes of the pool's control block in wasm memory (src/threads/pool-protocol.ts). */
  controlBytes: number;
  /** Starts threads − 1 workers on a shared-memory instance (src/threads/pool.ts). */
  start: typeof Pool.start;
  /** FavorAttention.forward on the pool (src/threads/threaded.ts). */
  forward: typeof threadedForward;
  /** Hybrid (window > 0) FavorAttention.forward on the pool, whole heads per job (src/threads/threaded-hybrid.ts). */
  hybridForward: typeof threadedHybridForward;
}

let registered: ThreadsPart | undefined;

export function registerThreads(part: ThreadsPart): void {
  registered = part;
}

/** The thread pool, if `performer-wasm/threads` was imported. */
export function threadsPart(): ThreadsPart | undefined {
  return registered;
}
