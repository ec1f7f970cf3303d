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
