// The exports that only the tests need (test/linalg/math.test.ts: the vector exp on its own), built
// apart as build/performer-testing.wasm, so that the shipped builds do not carry them.
export { vexp } from './linalg/math';

/** First free byte of linear memory (as in index.ts). */
export function heapBase(): usize {
  return __heap_base;
}
