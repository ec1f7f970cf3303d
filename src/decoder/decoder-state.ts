// The bytes of a saved decoder state: versioned, self-describing, little-endian, checksummed.
//
//   0  "PWDS"           magic                         28  u32 projection checksum (0 without projection)
//   4  u16 version (1)                                32  f64 epsilon
//   6  u8  kernel id                                  40  f64 position (tokens consumed)
//   7  u8  flags (1: projection 'none')               48  per (batch, head): c (f64), z (M f64), S (M × dv f64)
//   8  u32 dim   12 u32 valueDim   16 u32 m           end u32 FNV-1a of every byte before it
//  20  u32 batch 24 u32 heads
// Version 2 (a decoder with a window or a key shift; every other decoder still writes version 1, unchanged):
//   flags bit 2: key shift; 48 u32 window w, 52 u32 FNV-1a of the shift's bytes (0 without); then per (batch, head)
//   c, z, S as above; then per (batch, head) the ring: the last w + 1 keys (oldest first, (w + 1) × dim f64) and
//   their values ((w + 1) × dv f64), zeros before position 0.
//   flags bit 4: an estimate log-scale β ≠ 0 (estimateLogScale), then the header is 64 bytes: 56 f64 β. Without
//   it (β = 0) the bytes are as before.
import { PerformerError } from '../arguments/errors.ts';

export const STATE_MAGIC = 0x53445750; // "PWDS" read as little-endian u32
export const STATE_VERSION = 1;
export const STATE_VERSION_WINDOW = 2;
export const HEADER_BYTES = 48;
const WINDOW_HEADER_BYTES = 56;
const SCALED_HEADER_BYTES = 64;
const FLAG_PROJECTION_NONE = 1;
const FLAG_KEY_SHIFT = 2;
const FLAG_ESTIMATE_SCALE = 4;

export interface StateHeader {
  kernelId: number;
  projectionNone: boolean;
  dim: number;
  valueDim: number;
  m: number;
  batch: number;
  heads: number;
  projectionChecksum: number;
  epsilon: number;
  position: number;
  /** The exact window w (0: none). */
  window: number;
  /** β of the hybrid (estimateLogScale); 0 when the state has none. */
  estimateLogScale: number;
  /** FNV-1a of the key shift's bytes, or null without a shift. */
  shiftChecksum: number | null;
}

/** Version 2 carries a window or a key shift; without either the bytes are version 1, as before. */
function versionOf(h: StateHeader): number {
  return h.window > 0 || h.shiftChecksum !== null ? STATE_VERSION_WINDOW : STATE_VERSION;
}

/** Where the per-(batch, head) payload starts. */
export function payloadOffset(h: StateHeader): number {
  if (versionOf(h) === STATE_VERSION) return HEADER_BYTES;
  return h.estimateLogScale !== 0 ? SCALED_HEADER_BYTES : WINDOW_HEADER_BYTES;
}

/** Bytes of a state with these sizes (M features per row). */
export function stateLength(h: StateHeader, M: number): number {
  const ring = h.window > 0 ? (h.window + 1) * (h.dim + h.valueDim) : 0;
  return payloadOffset(h) + h.batch * h.heads * 8 * (1 + M + M * h.valueDim + ring) + 4;
}

export function writeHeader(view: DataView, h: StateHeader): void {
  view.setUint32(0, STATE_MAGIC, true);
  const version = versionOf(h);
  view.setUint16(4, version, true);
  view.setUint8(6, h.kernelId);
  view.setUint8(7, (h.projectionNone ? FLAG_PROJECTION_NONE : 0) | (h.shiftChecksum !== null ? FLAG_KEY_SHIFT : 0)
                   | (version === STATE_VERSION_WINDOW && h.estimateLogScale !== 0 ? FLAG_ESTIMATE_SCALE : 0));
  view.setUint32(8, h.dim, true);
  view.setUint32(12, h.valueDim, true);
  view.setUint32(16, h.m, true);
  view.setUint32(20, h.batch, true);
  view.setUint32(24, h.heads, true);
  view.setUint32(28, h.projectionChecksum, true);
  view.setFloat64(32, h.epsilon, true);
  view.setFloat64(40, h.position, true);
  if (version === STATE_VERSION_WINDOW) {
    view.setUint32(48, h.window, true);
    view.setUint32(52, h.shiftChecksum ?? 0, true);
    if (h.estimateLogScale !== 0) view.setFloat64(56, h.estimateLogScale, true);
  }
}

/** Reads and checks the header and the trailing checksum; the payload is checked by the caller. */
export function readHeader(bytes: unknown): { header: StateHeader; view: DataView } {
  if (!(bytes instanceof Uint8Array)) throw new PerformerError('INVALID_TYPE', 'decoder state must be a Uint8Array (from saveState())');
  if (bytes.length < HEADER_BYTES + 4) throw new PerformerError('INVALID_STATE', `decoder state is truncated (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== STATE_MAGIC) throw new PerformerError('INVALID_STATE', 'these bytes are not a performer-wasm decoder state');
  const version = view.getUint16(4, true);
  if (version !== STATE_VERSION && version !== STATE_VERSION_WINDOW) {
    throw new PerformerError('INVALID_STATE', `decoder state version ${version} is not supported (expected ${STATE_VERSION} or ${STATE_VERSION_WINDOW})`);
  }
  const scaled = version === STATE_VERSION_WINDOW && (view.getUint8(7) & FLAG_ESTIMATE_SCALE) !== 0;
  if (version === STATE_VERSION_WINDOW && bytes.length < (scaled ? SCALED_HEADER_BYTES : WINDOW_HEADER_BYTES) + 4) {
    throw new PerformerError('INVALID_STATE', `decoder state is truncated (${bytes.length} bytes)`);
  }
  if (view.getUint32(bytes.length - 4, true) !== fnv1a(bytes, bytes.length - 4)) {
    throw new PerformerError('INVALID_STATE', 'decoder state checksum mismatch: the bytes were truncated or changed');
  }
  const header: StateHeader = {
    kernelId: view.getUint8(6),
    projectionNone: (view.getUint8(7) & FLAG_PROJECTION_NONE) !== 0,
    dim: view.getUint32(8, true),
    valueDim: view.getUint32(12, true),
    m: view.getUint32(16, true),
    batch: view.getUint32(20, true),
    heads: view.getUint32(24, true),
    projectionChecksum: view.getUint32(28, true),
    epsilon: view.getFloat64(32, true),
    position: view.getFloat64(40, true),
    window: version === STATE_VERSION_WINDOW ? view.getUint32(48, true) : 0,
    estimateLogScale: scaled ? view.getFloat64(56, true) : 0,
    shiftChecksum: version === STATE_VERSION_WINDOW && (view.getUint8(7) & FLAG_KEY_SHIFT) ? view.getUint32(52, true) : null,
  };
  return { header, view };
}

/** Seals a state: writes the checksum of all bytes before the last four into them. */
export function seal(bytes: Uint8Array): void {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(bytes.length - 4, fnv1a(bytes, bytes.length - 4), true);
}

/** FNV-1a of a key shift's bytes (recorded in saved states). */
export function shiftChecksum(shift: Float32Array): number {
  return fnv1a(new Uint8Array(shift.buffer, shift.byteOffset, shift.byteLength), shift.byteLength);
}

/** FNV-1a (32-bit) over bytes[0, n). */
function fnv1a(bytes: Uint8Array, n: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < n; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return h >>> 0;
}
