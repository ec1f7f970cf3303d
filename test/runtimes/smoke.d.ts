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
export declare function fnv1a(bytes: Uint8Array, hash?: number): number;
export declare function bytesOf(array: ArrayBufferView): Uint8Array;
export declare function hex(hash: number): string;
export declare function uniform(n: number, seed: number, scale: number): Float32Array;
