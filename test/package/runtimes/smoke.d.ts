// Types of smoke.js for the TypeScript tests that import it.
export declare const KERNELS: readonly string[];
export interface SmokeResult {
  /** FNV-1a of every output byte, in order. */
  checksum: string;
  /** One checksum per computation, to tell which differs. */
  parts: Record<string, string>;
  /** The runtime as the script sees it. */
  runtime: string;
  count: number;
}
export declare function runSmoke(initOptions?: { threads?: number }): Promise<SmokeResult>;
/** FNV-1a (32-bit) over bytes, continuing from `hash`. */
export declare function fnv1a(bytes: Uint8Array, hash?: number): number;
/** The bytes of a typed array (a view, no copy). */
export declare function bytesOf(array: ArrayBufferView): Uint8Array;
/** A hash as 8 hex digits. */
export declare function hex(hash: number): string;
/** n floats in [-scale, scale) from integer arithmetic only (mulberry32 of `seed`): exact in float32, the same in every engine. */
export declare function uniform(n: number, seed: number, scale: number): Float32Array;
