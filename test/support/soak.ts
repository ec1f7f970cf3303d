// The memory soak, run in a child process by test/stress/soak.test.ts with --expose-gc:
//   SOAK_CALLS=n node --expose-gc --import tsx test/support/soak.ts
// Many calls of mixed shapes through every entry point (bidirectional and causal forward, exact
// attention, decoders stepped, prefilled, saved and restored, dropped with and without dispose(), new
// instances). Every YIELD_EVERY calls: a minor GC (scavenge) and a turn of the event loop, as in an
// application whose collector keeps up (FinalizationRegistry callbacks run only after a GC found the
// decoder dead, and only between tasks). SOAK_DROP=0 disposes every decoder (deterministic lifetimes:
// wasm memory is then flat after warm-up); by default about half are dropped without dispose(), and
// the wasm memory becomes the high-water mark of the undisposed decoders alive at one time, which depends
// on when V8 runs their finalizers (measured: 10–12 MiB over 100 000 calls against 0.4 MiB with
// dispose(); every block is freed in the end). At checkpoints (after a full GC and two turns of the event
// loop): wasm memory (memoryBytes()), the live wasm heap blocks, the allocator's top and free list, the
// scratch size, and the JS heap (heapUsed).
// Prints one JSON line.
import './setup.ts';
import { exactAttention, FavorAttention, memoryBytes, type KernelName } from '../../src/index.ts';
import { runtime } from '../../src/runtime/wasm.ts';
import { randn, rng } from './data.ts';

const CALLS = Number(process.env.SOAK_CALLS ?? 2000);
const WARMUP = Math.max(300, Math.round(CALLS * 0.2));
const CHECKPOINTS = 20;
const YIELD_EVERY = 25;
const gc = (globalThis as { gc?: () => void }).gc;
const FORCE_GC = process.env.SOAK_GC !== '0';
// SOAK_DROP=0: every decoder is disposed (deterministic lifetimes); default: about half are dropped
const DROP = process.env.SOAK_DROP !== '0';

const KERNELS: KernelName[] = ['softmax', 'softmax-hyperbolic', 'softmax-trig', 'relu', 'elu1', 'exp', 'abs', 'gelu'];
const DIMS = [4, 8, 16, 32];
const u = rng(20261129);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(u() * xs.length)];
const int = (lo: number, hi: number) => lo + Math.floor(u() * (hi - lo + 1));

// a pool of instances, and the largest shapes, used first so that the warm-up reaches the peak scratch
const pool = DIMS.flatMap((dim) => [false, true].map((causal) =>
  new FavorAttention({ dim, features: pick([8, 24, 64]), kernel: pick(KERNELS), causal, chunkSize: pick([16, 32, 64]), seed: int(0, 99) })));
const MAX = { L: 96, bh: 2, dv: 32 };

function liveBlocks(): number {
  return (runtime().heap as unknown as { sizes: Map<number, number> }).sizes.size;
}

/** The allocator's insides (private fields, read for the report): bump pointer, free list, scratch. */
function heapState() {
  const rt = runtime() as unknown as { heap: { top: number; free: { size: number }[] }; scratchSize: number };
  return { heapTop: rt.heap.top, freeBlocks: rt.heap.free.length, freeBytes: rt.heap.free.reduce((n, b) => n + b.size, 0), scratchBytes: rt.scratchSize };
}

/**
 * Collects garbage and turns the event loop until only the blocks that must live are live (the base ones and the
 * shared scratch), for at most 50 turns of 1 ms: FinalizationRegistry callbacks of dropped decoders run as a task
 * some turns after the GC that found them, and how many turns varies with the machine's load. A leaked block is
 * never freed, so it still shows after the last turn: waiting for the collector hides no leak.
 */
async function settle(): Promise<void> {
  for (let turn = 0; turn < 50; turn++) {
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 1));
    if (liveBlocks() <= baseBlocks + 1) return;
  }
}
function tensors(bh: number, Lq: number, Lk: number, d: number, dv: number) {
  const seed = int(0, 1e9);
  return { q: randn(bh * Lq * d, seed, 0.5), k: randn(bh * Lk * d, seed + 1, 0.5), v: randn(bh * Lk * dv, seed + 2) };
}

let sink = 0; // keeps results alive until used
const counts: Record<string, number> = {};

function call(op: number, big: boolean): void {
  const attn = pick(pool);
  const d = attn.dim;
  const batch = big ? MAX.bh : int(1, MAX.bh);
  const heads = big ? 2 : int(1, 2);
  const bh = batch * heads;
  const Lq = big ? MAX.L : int(1, MAX.L);
  const Lk = big ? MAX.L : int(1, MAX.L);
  const dv = big ? MAX.dv : pick([1, 3, 8, d, MAX.dv]);
  const shape = { batch, heads, queries: Lq, keys: Lk, dim: d, valueDim: dv };
  const names = ['forward', 'exactAttention', DROP ? 'decoder dropped' : 'decoder disposed', 'decoder disposed', 'saveState/decoderFromState', 'new FavorAttention'];
  counts[names[op]] = (counts[names[op]] ?? 0) + 1;
  switch (op) {
    case 0: { // forward (the pool has causal and bidirectional instances), with a mask half of the time
      const { q, k, v } = tensors(bh, Lq, Lk, d, dv);
      const keyMask = u() < 0.5 ? Uint8Array.from({ length: batch * Lk }, () => (u() < 0.8 ? 1 : 0)) : undefined;
      sink += attn.forward(q, k, v, shape, { keyMask })[0];
      break;
    }
    case 1: {
      const { q, k, v } = tensors(bh, Lq, Lk, d, dv);
      sink += exactAttention(q, k, v, shape, { causal: u() < 0.5 })[0];
      break;
    }
    case 2: case 3: { // a decoder: prefill, a few steps; dropped (the FinalizationRegistry frees it) or disposed
      const dec = attn.decoder({ batch, heads, valueDim: dv });
      const n = big ? 40 : int(1, 40);
      const pre = tensors(bh, n, n, d, dv);
      sink += dec.prefill(pre.q, pre.k, pre.v, n)[0];
      for (let t = int(1, 4); t > 0; t--) {
        const one = tensors(bh, 1, 1, d, dv);
        sink += dec.step(one.q, one.k, one.v)[0];
      }
      if (op === 3 || !DROP) dec.dispose();
      break;
    }
    case 4: { // save, restore, continue; the restored one is disposed half of the time
      const dec = attn.decoder({ batch, heads, valueDim: dv });
      const one = tensors(bh, 1, 1, d, dv);
      dec.step(one.q, one.k, one.v);
      const bytes = dec.saveState();
      dec.dispose();
      const back = attn.decoderFromState(bytes);
      sink += back.step(one.q, one.k, one.v)[0];
      if (u() < 0.5 || !DROP) back.dispose();
      break;
    }
    case 5: { // a new instance (projection drawn), used once and dropped
      // the largest workspaces this op can ask for: 2·48 features at the default chunks, bidirectional (128) and causal (64)
      const fresh = big
        ? [false, true].map((causal) => new FavorAttention({ dim: d, features: 48, kernel: 'softmax-hyperbolic', causal, seed: 1 }))
        : [new FavorAttention({ dim: d, features: pick([4, 16, 48]), kernel: pick(KERNELS), causal: u() < 0.5, seed: int(0, 1e6) })];
      const { q, k, v } = tensors(bh, Lq, Lk, d, dv);
      for (const instance of fresh) sink += instance.forward(q, k, v, shape)[0];
      break;
    }
  }
}

interface Point { calls: number; wasmBytes: number; liveBlocks: number; heapUsed: number; heapTop: number; freeBlocks: number; freeBytes: number; scratchBytes: number }
const curve: Point[] = [];
const started = performance.now();
const baseBlocks = liveBlocks();
await settle();
curve.push({ calls: 0, wasmBytes: memoryBytes(), liveBlocks: liveBlocks(), heapUsed: process.memoryUsage().heapUsed, ...heapState() });
// warm-up: every operation once at the largest shape on every instance, then random calls
for (let i = 0; i < pool.length; i++) for (let op = 0; op < 6; op++) call(op, true);
let done = 0;
const at = new Set(Array.from({ length: CHECKPOINTS }, (_, i) => WARMUP + Math.round(((CALLS - WARMUP) * (i + 1)) / CHECKPOINTS)));
at.add(WARMUP);
for (; done < CALLS; ) {
  call(Math.floor(u() * 6), false);
  done++;
  if (done % YIELD_EVERY === 0) {
    if (FORCE_GC) (gc as ((o?: { type: string }) => void) | undefined)?.({ type: 'minor' }); // a scavenge: the young decoders
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (at.has(done)) {
    await settle();
    curve.push({ calls: done, wasmBytes: memoryBytes(), liveBlocks: liveBlocks(), heapUsed: process.memoryUsage().heapUsed, ...heapState() });
  }
}
// the end: more turns of the event loop, so that every dropped decoder is finalized
for (let i = 0; i < 5; i++) await settle();
const end = { wasmBytes: memoryBytes(), liveBlocks: liveBlocks(), heapUsed: process.memoryUsage().heapUsed, ...heapState() };
console.log(JSON.stringify({ end,
  calls: CALLS, warmup: WARMUP, gc: gc !== undefined, forcedGc: FORCE_GC, drop: DROP, seconds: (performance.now() - started) / 1000, baseBlocks, counts,
  curve, finite: Number.isFinite(sink),
}));
