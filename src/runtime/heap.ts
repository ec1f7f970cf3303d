// Allocation of wasm linear memory from the JS side. The kernels never allocate: every buffer they
// touch is a block handed out here, above __heap_base (static data lives below it).
import type { WasmMemory } from './platform-types.ts';
import { PerformerError } from '../arguments/errors.ts';

const PAGE = 65536;
const MAX_PAGES = 65536; // wasm32: 4 GiB
const ALIGN = 64; // a cache line; f32x4 loads need only 16

interface Block {
  ptr: number;
  size: number;
}

/** First-fit allocator with coalescing. Memory only grows (wasm cannot shrink it). */
export class Heap {
  private readonly memory: WebAssembly.Memory;
  private top: number;
  private readonly free: Block[] = [];
  private readonly sizes = new Map<number, number>();

  constructor(memory: WasmMemory, heapBase: number) {
    this.memory = memory;
    this.top = alignUp(heapBase);
  }

  /** Returns the address of a block of at least `bytes` bytes, aligned to 64. Throws OUT_OF_MEMORY. */
  alloc(bytes: number): number {
    const size = alignUp(Math.max(bytes, 1));
    for (let i = 0; i < this.free.length; i++) {
      const block = this.free[i];
      if (block.size < size) continue;
      const ptr = block.ptr;
      if (block.size === size) this.free.splice(i, 1);
      else {
        block.ptr += size;
        block.size -= size;
      }
      this.sizes.set(ptr, size);
      return ptr;
    }
    const ptr = this.top;
    this.ensure(ptr + size);
    this.top = ptr + size;
    this.sizes.set(ptr, size);
    return ptr;
  }

  /** Returns a block to the free list, merging it with free neighbours. */
  release(ptr: number): void {
    const size = this.sizes.get(ptr);
    if (size === undefined) return;
    this.sizes.delete(ptr);
    let i = 0;
    while (i < this.free.length && this.free[i].ptr < ptr) i++;
    this.free.splice(i, 0, { ptr, size });
    const next = this.free[i + 1];
    if (next && ptr + size === next.ptr) {
      this.free[i].size += next.size;
      this.free.splice(i + 1, 1);
    }
    const prev = this.free[i - 1];
    if (prev && prev.ptr + prev.size === ptr) {
      prev.size += this.free[i].size;
      this.free.splice(i, 1);
    }
    // a free block at the top goes back to the bump pointer
    const last = this.free[this.free.length - 1];
    if (last && last.ptr + last.size === this.top) {
      this.top = last.ptr;
      this.free.pop();
    }
  }

  /** Grows memory so that addresses below `end` are valid. */
  private ensure(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    const pages = Math.ceil((end - have) / PAGE);
    if (have / PAGE + pages > MAX_PAGES) {
      throw new PerformerError('OUT_OF_MEMORY', `needs ${formatBytes(end)} of wasm memory; wasm32 allows 4 GiB`);
    }
    try {
      this.memory.grow(pages);
    } catch {
      throw new PerformerError('OUT_OF_MEMORY', `the engine refused to grow wasm memory to ${formatBytes(end)}`);
    }
  }
}

/** Checks that a workspace of `bytes` can exist at all, before any allocation (sizes from user shapes). */
export function checkWorkspaceBytes(bytes: number): void {
  if (!(bytes <= MAX_PAGES * PAGE)) {
    throw new PerformerError('OUT_OF_MEMORY', `this shape needs ${formatBytes(bytes)} of wasm workspace; wasm32 allows 4 GiB`);
  }
}

function alignUp(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

function formatBytes(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`;
}
