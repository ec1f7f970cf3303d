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
export declare function runSmoke(): Promise<SmokeResult>;
