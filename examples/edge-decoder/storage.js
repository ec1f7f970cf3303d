// A session in Durable Object storage, as a snapshot and a log:
//   meta               the record: format, id, configuration identity, the snapshot's position, the last
//                      request it covers (kind, position, tokens, digest) and the sizes below
//   state/0, state/1…  the decoder's saved state at the snapshot, cut into values of ≤ 120 KiB
//   answer/0, …        the answer of that last request (for its retry), cut the same way
//   log/<position>/<i> the log records after the snapshot (log-record.js), one per request, cut the same way
// A record is one put(); a snapshot (meta, state, answer) and the deletion of the records it covers are
// one transaction. Durable Objects apply each atomically (at most 128 keys per put: meta + 127 values).
import { MAX_VALUES, VALUE_BYTES } from './config.js';
import { ServiceError } from './protocol.js';

/** Version of this storage layout (the decoder state inside has its own version and checksum). */
export const STORAGE_FORMAT = 2;
/** Format 1 (one snapshot per request, the last outputs in the record) is read too. */
const READS = [1, 2];
const LOG = 'log/';
const stateKey = (i) => `state/${i}`;
const answerKey = (i) => `answer/${i}`;
const recordKey = (position) => (i) => `${LOG}${String(position).padStart(16, '0')}/${String(i).padStart(3, '0')}`;

/** Refuses a state too large for one atomic put. */
export function checkStateSize(bytes) {
  const chunks = Math.ceil(bytes / VALUE_BYTES);
  if (chunks > MAX_VALUES) {
    throw new ServiceError(500, 'CONFIG_INVALID', `a session state of ${bytes} bytes needs ${chunks} storage values; one atomic write holds ${MAX_VALUES}`);
  }
}

/** Puts `bytes` into `entries` as values of ≤ VALUE_BYTES under key(0), key(1), …; returns how many. */
function cut(entries, bytes, key) {
  const chunks = Math.ceil(bytes.length / VALUE_BYTES);
  // slice, not subarray: a view would be stored with its whole underlying buffer
  for (let i = 0; i < chunks; i++) entries[key(i)] = bytes.slice(i * VALUE_BYTES, (i + 1) * VALUE_BYTES);
  return chunks;
}

/** The bytes of values key(0…chunks-1) joined; `fail(reason)` makes the error of a missing or oversized part. */
function join(values, key, chunks, length, fail) {
  const only = values.get(key(0));
  if (chunks === 1 && only instanceof Uint8Array && only.length === length) return only;
  const bytes = new Uint8Array(length);
  let at = 0;
  for (let i = 0; i < chunks; i++) {
    const chunk = values.get(key(i));
    if (!(chunk instanceof Uint8Array)) throw fail(`is missing its value '${key(i)}'`);
    if (at + chunk.length > length) throw fail(`is longer than the ${length} bytes its record says`);
    bytes.set(chunk, at);
    at += chunk.length;
  }
  if (at !== length) throw fail(`has ${at} bytes, its record says ${length}`);
  return bytes;
}

/** Bytes a write sends to storage: its keys and values (a record's fields as JSON). */
function entryBytes(entries) {
  let total = 0;
  for (const [key, value] of Object.entries(entries)) total += key.length + (value instanceof Uint8Array ? value.byteLength : JSON.stringify(value).length);
  return total;
}

/**
 * Writes a snapshot: `record` (id, config fingerprint, position, last: the last request's { kind,
 * from, tokens, digest } or undefined), `state` (FavorDecoder.saveState()), `answer` (the bytes of the
 * last request's answer), and deletes the log records `covered` (keys) in the same atomic write.
 * Resolves to { meta, written } once the write is durable.
 */
export async function saveSnapshot(storage, record, state, answer, covered = []) {
  const entries = {};
  const stateChunks = cut(entries, state, stateKey);
  const answerChunks = answer ? cut(entries, answer, answerKey) : 0;
  if (stateChunks + answerChunks > MAX_VALUES) throw new ServiceError(413, 'TOO_MANY_TOKENS', `the answer of ${answer.length} bytes and the state need ${stateChunks + answerChunks} storage values; one atomic write holds ${MAX_VALUES}`);
  const last = record.last && { ...record.last, answerBytes: answer.length, answerChunks };
  entries.meta = { format: STORAGE_FORMAT, ...record, last, stateBytes: state.length, stateChunks };
  if (!covered.length) await storage.put(entries);
  else {
    await storage.transaction(async (txn) => {
      await txn.put(entries);
      for (let i = 0; i < covered.length; i += 128) await txn.delete(covered.slice(i, i + 128));
    });
  }
  return { meta: entries.meta, written: entryBytes(entries) };
}

/** Appends the log record of the request at `position` (one put). Resolves to { keys, written } once durable. */
export async function appendRecord(storage, position, bytes) {
  const entries = {};
  cut(entries, bytes, recordKey(position));
  await storage.put(entries);
  return { keys: Object.keys(entries), written: entryBytes(entries) };
}

/**
 * Reads the session back: undefined when none was stored, else { meta, state, answer, records } with
 * the log records in position order ({ position, keys, bytes }). A layout it does not know or a missing
 * value is a 500: INVALID_STATE for the snapshot, INVALID_LOG for a record (the decoder checks the
 * state's own version and checksum, log-record.js a record's).
 */
export async function loadSession(storage) {
  const meta = await storage.get('meta');
  if (meta === undefined) return undefined;
  const snapshotError = (reason) => new ServiceError(500, 'INVALID_STATE', `the stored snapshot ${reason}`);
  if (!READS.includes(meta?.format)) {
    throw new ServiceError(500, 'INVALID_STATE', `the stored session has storage format ${meta?.format}; this Worker reads format ${READS.join(' and ')}`);
  }
  const answerChunks = meta.last?.answerChunks ?? 0;
  const keys = [...Array.from({ length: meta.stateChunks }, (_, i) => stateKey(i)), ...Array.from({ length: answerChunks }, (_, i) => answerKey(i))];
  // the snapshot's values and the whole log in two reads at once
  const [values, log] = await Promise.all([keys.length ? storage.get(keys) : new Map(), storage.list({ prefix: LOG })]);
  const state = join(values, stateKey, meta.stateChunks, meta.stateBytes, (reason) => snapshotError(`state ${reason}`));
  const answer = meta.format === 1 ? meta.last?.outputs : meta.last && join(values, answerKey, answerChunks, meta.last.answerBytes, (reason) => snapshotError(`answer ${reason}`));
  return { meta, state, answer, records: groupRecords(log) };
}

/** The log's values (key → bytes, in key order) as records { position, keys, bytes }. */
function groupRecords(values) {
  const records = [];
  const byPosition = new Map();
  for (const key of values.keys()) {
    const position = Number(key.slice(LOG.length, LOG.length + 16));
    if (!byPosition.has(position)) byPosition.set(position, []);
    byPosition.get(position).push(key);
  }
  for (const [position, keys] of byPosition) {
    const key = recordKey(position);
    const length = keys.reduce((sum, k) => sum + (values.get(k)?.length ?? 0), 0);
    const fail = (reason) => new ServiceError(500, 'INVALID_LOG', `the log record at position ${position} ${reason}`);
    records.push({ position, keys, bytes: join(values, key, keys.length, length, fail) });
  }
  return records;
}

/** Bytes a session occupies in storage (values only: the snapshot, the last answer, the record's fields, the log). */
export function storedBytes(meta, logBytes = 0) {
  const { last, ...fields } = meta;
  return meta.stateBytes + (last ? (last.answerBytes ?? last.outputs.byteLength) + 32 : 0) + JSON.stringify(fields).length + logBytes;
}
