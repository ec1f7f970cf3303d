// Workspace planning: the named f32 regions of one call's block of wasm memory.

/** Byte offsets of named f32 regions inside one workspace block, each 64-byte aligned. */
export function planWorkspace<K extends string>(floats: Record<K, number>): { offsets: Record<K, number>; bytes: number } {
  const offsets = {} as Record<K, number>;
  let bytes = 0;
  for (const key of Object.keys(floats) as K[]) {
    offsets[key] = bytes;
    bytes += Math.ceil((floats[key] * 4) / 64) * 64;
  }
  return { offsets, bytes };
}

/** The byte address of every region of a planned workspace placed at `base`. */
export function regionAddresses<K extends string>(base: number, offsets: Record<K, number>): Record<K, number> {
  const addresses = {} as Record<K, number>;
  for (const key of Object.keys(offsets) as K[]) addresses[key] = base + offsets[key];
  return addresses;
}

/** Rows of a head that a one-thread pass copies into wasm memory per kernel call: a multiple of the chunk C. */
export const STAGING_ROWS = 2048;

/**
 * The rows staged per call for chunks of C rows and sequences of up to `rows`: whole chunks, so that every path cuts
 * a head into the same chunks (the kernels' chunk loops run inside wasm, docs/design.md §5).
 */
export function stagingRows(C: number, rows: number): number {
  return C * Math.max(1, Math.min(Math.floor(STAGING_ROWS / C), Math.ceil(rows / C)));
}
