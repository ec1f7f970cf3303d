// A session in Durable Object storage: one `meta` record and the decoder's saved state cut into chunks
// (`state/0`, `state/1`, …) that each fit a storage value. Every save is one put() of all its keys,
// which Durable Objects apply atomically (at most 128 keys per put: meta + 127 chunks).
import { VALUE_BYTES } from './config.js';
import { ServiceError } from './protocol.js';

/** Version of this storage layout (the decoder state inside has its own version and checksum). */
export const STORAGE_FORMAT = 1;
const MAX_CHUNKS = 127;
const chunkKey = (i) => `state/${i}`;

/** Refuses a state too large for one atomic put. */
export function checkStateSize(bytes) {
  const chunks = Math.ceil(bytes / VALUE_BYTES);
  if (chunks > MAX_CHUNKS) {
    throw new ServiceError(500, 'CONFIG_INVALID', `a session state of ${bytes} bytes needs ${chunks} storage values; one atomic write holds ${MAX_CHUNKS}`);
  }
}

/**
 * Writes the session: `record` (id, config fingerprint, position, last response) and `state` (the
 * bytes of FavorDecoder.saveState()), in one atomic put. Resolves to the stored record once the
 * write is durable.
 */
export async function saveSession(storage, record, state) {
  const chunks = Math.ceil(state.length / VALUE_BYTES);
  const entries = { meta: { format: STORAGE_FORMAT, ...record, stateBytes: state.length, stateChunks: chunks } };
  // slice, not subarray: a view would be stored with its whole underlying buffer
  for (let i = 0; i < chunks; i++) entries[chunkKey(i)] = state.slice(i * VALUE_BYTES, (i + 1) * VALUE_BYTES);
  await storage.put(entries);
  return entries.meta;
}

/**
 * Reads the session back: undefined when none was stored, else { meta, state }. A layout it does not
 * know or a missing chunk is a 500 INVALID_STATE (the decoder checks the state's own version and checksum).
 */
export async function loadSession(storage) {
  const meta = await storage.get('meta');
  if (meta === undefined) return undefined;
  if (meta?.format !== STORAGE_FORMAT) {
    throw new ServiceError(500, 'INVALID_STATE', `the stored session has storage format ${meta?.format}; this Worker reads format ${STORAGE_FORMAT}`);
  }
  const keys = Array.from({ length: meta.stateChunks }, (_, i) => chunkKey(i));
  const values = keys.length ? await storage.get(keys) : new Map();
  const state = new Uint8Array(meta.stateBytes);
  let at = 0;
  for (const key of keys) {
    const chunk = values.get(key);
    if (!(chunk instanceof Uint8Array)) throw new ServiceError(500, 'INVALID_STATE', `the stored session is missing its value '${key}'`);
    if (at + chunk.length > state.length) throw new ServiceError(500, 'INVALID_STATE', `the stored state is longer than the ${meta.stateBytes} bytes its record says`);
    state.set(chunk, at);
    at += chunk.length;
  }
  if (at !== state.length) throw new ServiceError(500, 'INVALID_STATE', `the stored state has ${at} bytes, its record says ${meta.stateBytes}`);
  return { meta, state };
}

/** Bytes a session occupies in storage (values only: the state, the last outputs, the record's fields). */
export function storedBytes(meta) {
  const { last, ...fields } = meta;
  return meta.stateBytes + (last ? last.outputs.byteLength + 32 : 0) + JSON.stringify(fields).length;
}
