// Saving and loading a decoder's state: the payload after the header of decoder-state.ts (per (batch, head) the
// stabilizer c, then z and S on the stored feature rows; then the rings), read from and written to wasm memory,
// and the check that saved bytes fit a decoder.
import type { BytesResult } from '../arguments/buffers.ts';
import { PerformerError } from '../arguments/errors.ts';
import type { StatePointers } from '../favor/causal.ts';
import type { PreparedFeatures } from '../feature-maps/features.ts';
import type { Runtime } from '../runtime/wasm.ts';
import { payloadOffset, readHeader, seal, shiftChecksum, stateLength, writeHeader, type StateHeader } from './decoder-state.ts';

/** What a decoder must match to continue a saved state: the instance's kernel and projection. */
export interface DecoderIdentity {
  features: PreparedFeatures;
  chunkSize: number;
  projectionChecksum: number;
  /** The exact window w (0: plain FAVOR+): a ring of the last w + 1 keys and values per sequence. */
  window: number;
  /** β: the FAVOR+ part weighs e^β against the exact window (0 without a window). */
  estimateLogScale: number;
  /** A fixed vector subtracted from every key (centerKeys), or null. */
  keyShift: Float32Array | null;
}

/** Where a decoder's state is in wasm memory: `count` sequences, their pointers, and the feature rows that are saved. */
export interface StateLayout {
  count: number;
  valueDim: number;
  /** Stored rows of the M real features (featureRows). */
  rows: number[];
  pointers(r: number): StatePointers;
}

/** Stored rows of the M real features (the pad rows are left out of saved states). */
export function featureRows(f: PreparedFeatures): number[] {
  const rows = Array.from({ length: f.m }, (_, r) => r);
  return f.map.twoBlock ? [...rows, ...rows.map((r) => f.mp + r)] : rows;
}

/** The whole state as bytes: the header, (c, z, S) per (batch, head) from memory, then `ring` (empty without a window). */
export function writeSavedState(rt: Runtime, header: StateHeader, layout: StateLayout, ring: number[]): BytesResult {
  const M = layout.rows;
  const bytes = new Uint8Array(stateLength(header, M.length));
  const view = new DataView(bytes.buffer);
  writeHeader(view, header);
  let at = payloadOffset(header);
  const put = (x: number) => { view.setFloat64(at, x, true); at += 8; };
  for (let r = 0; r < layout.count; r++) {
    const st = layout.pointers(r);
    put(rt.f64[st.run >>> 3]);
    for (const row of M) put(rt.f64[(st.z >>> 3) + row]);
    for (const row of M) for (let t = 0; t < layout.valueDim; t++) put(rt.f64[(st.S >>> 3) + row * layout.valueDim + t]);
  }
  for (const x of ring) put(x);
  seal(bytes);
  return bytes;
}

/**
 * Reads and checks the payload of saved bytes, writing nothing: the (c, z, S) values in order, and `ringFloats`
 * ring values (each a finite float32). INVALID_STATE on a non-finite value.
 */
export function readSavedState(header: StateHeader, view: DataView, layout: StateLayout, ringFloats: number): { values: number[]; ring: number[] } {
  const M = layout.rows;
  let at = payloadOffset(header);
  const get = () => { const x = view.getFloat64(at, true); at += 8; return x; };
  const values: number[] = [];
  for (let r = 0; r < layout.count; r++) {
    const run = get();
    if (!(run === -Infinity || Number.isFinite(run))) throw new PerformerError('INVALID_STATE', 'decoder state holds a non-finite stabilizer');
    values.push(run);
    for (let i = 0; i < M.length * (1 + layout.valueDim); i++) {
      const x = get();
      if (!Number.isFinite(x)) throw new PerformerError('INVALID_STATE', 'decoder state holds a non-finite value');
      values.push(x);
    }
  }
  const ring: number[] = [];
  for (let i = 0; i < ringFloats; i++) {
    const x = get();
    if (!Number.isFinite(x) || Math.fround(x) !== x) throw new PerformerError('INVALID_STATE', 'decoder state holds a ring value that is not a finite float32');
    ring.push(x);
  }
  return { values, ring };
}

/** Writes the (c, z, S) values of readSavedState into memory (of a decoder just reset). */
export function loadSavedState(rt: Runtime, layout: StateLayout, values: number[]): void {
  const M = layout.rows;
  let next = 0;
  for (let r = 0; r < layout.count; r++) {
    const st = layout.pointers(r);
    rt.f64[st.run >>> 3] = values[next++];
    for (const row of M) rt.f64[(st.z >>> 3) + row] = values[next++];
    for (const row of M) for (let t = 0; t < layout.valueDim; t++) rt.f64[(st.S >>> 3) + row * layout.valueDim + t] = values[next++];
  }
}

/** Checks that saved bytes fit a decoder of this identity; returns their header and view. */
export function checkSavedState(bytes: unknown, id: DecoderIdentity): { header: StateHeader; view: DataView } {
  const { header, view } = readHeader(bytes);
  const f = id.features;
  const mismatch = (what: string, saved: unknown, here: unknown) =>
    new PerformerError('INVALID_STATE', `decoder state was saved with ${what} ${saved}, this instance has ${here}`);
  if (header.kernelId !== f.map.id) throw mismatch('kernel id', header.kernelId, f.map.id);
  if (header.dim !== f.dim) throw mismatch('dim', header.dim, f.dim);
  if (header.m !== f.m) throw mismatch('features', header.m, f.m);
  if (header.projectionNone !== (f.wt === null) || header.projectionChecksum !== id.projectionChecksum) {
    throw mismatch('projection checksum', hex(header.projectionChecksum), hex(id.projectionChecksum));
  }
  if (header.epsilon !== f.epsilon) throw mismatch('epsilon', header.epsilon, f.epsilon);
  if (header.window !== id.window) throw mismatch('window', header.window, id.window);
  if (header.estimateLogScale !== id.estimateLogScale) throw mismatch('estimateLogScale', header.estimateLogScale, id.estimateLogScale);
  const shift = id.keyShift ? shiftChecksum(id.keyShift) : null;
  if (header.shiftChecksum !== shift) {
    throw mismatch('key shift', header.shiftChecksum === null ? 'none' : hex(header.shiftChecksum), shift === null ? 'none' : hex(shift));
  }
  for (const [name, value] of [['batch', header.batch], ['heads', header.heads], ['valueDim', header.valueDim]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new PerformerError('INVALID_STATE', `decoder state has ${name} ${value}`);
  }
  if (!Number.isInteger(header.position) || header.position < 0) throw new PerformerError('INVALID_STATE', `decoder state has position ${header.position}`);
  const M = f.map.twoBlock ? 2 * f.m : f.m;
  if (view.byteLength !== stateLength(header, M)) {
    throw new PerformerError('INVALID_STATE', `decoder state has ${view.byteLength} bytes, its header implies ${stateLength(header, M)}`);
  }
  return { header, view };
}

function hex(x: number): string {
  return '0x' + x.toString(16).padStart(8, '0');
}
