// How a session is persisted: each accepted request appends a log record (log-record.js) in the write
// that acknowledges it, and a snapshot (the decoder's saved state) replaces the log when the log since
// the last one would reach config.snapshotTokens tokens or config.snapshotLogBytes bytes, or when one
// record would be larger than the state (snapshotTokens 1: a snapshot at every request). A restart
// loads the latest snapshot and applies the records after it again: the decoder is deterministic, so
// the replayed state, and the answers, are the ones the service computed the first time.
import { applyRequest } from './apply.js';
import { fingerprint } from './config.js';
import { decodeRecord, encodeRecord, recordLength } from './log-record.js';
import { fnv1a, fnv1aWords, ServiceError } from './protocol.js';
import { appendRecord, checkStateSize, loadSession, saveSnapshot, storedBytes } from './storage.js';

/** A record's request applied again; a refusal by the decoder means a damaged log (500 INVALID_LOG). */
function replayRecord(decoder, config, input) {
  try {
    return applyRequest(decoder, config, input);
  } catch (error) {
    throw new ServiceError(500, 'INVALID_LOG', `the log record at position ${input.position} does not apply: ${error.message}`);
  }
}

/**
 * What a retry of the last request is recognized by, and answered with. digestWords: the digest is
 * fnv1aWords of the floats (a snapshot stored without it has fnv1a of their bytes).
 */
export function lastRequest(input, answer) {
  return { kind: input.kind, from: input.position, tokens: input.tokens, digest: input.digest, digestWords: true, answer };
}

/** Whether `input` is a retry of `last` (lastRequest()'s, or a restored snapshot's): the same kind, position and tokens. */
export function isRetryOf(last, input) {
  return !!last && input.kind === last.kind && input.position === last.from && input.tokens === last.tokens && (last.digestWords ? input.digest : fnv1a(input.floats)) === last.digest;
}

const bytesOf = (floats) => new Uint8Array(floats.buffer, floats.byteOffset, floats.byteLength);

export class Journal {
  constructor(storage, config) {
    this.storage = storage;
    this.config = config;
    this.meta = undefined; // the snapshot's record
    this.logKeys = []; // the storage keys of the records after the snapshot
    this.logTokens = 0;
    this.logBytes = 0;
    this.written = 0; // bytes written since the object started (keys and values)
  }

  /**
   * The stored session: undefined, or { id, decoder, last } with the decoder at the snapshot and every
   * record after it applied again, and last the request to answer again on a retry ({ kind, from,
   * tokens, digest, answer }). Refuses, never resets: 409 CONFIG_MISMATCH, 500 INVALID_STATE (the
   * snapshot), 500 INVALID_LOG (a record), 500 REPLAY_MISMATCH (a record applied again answers other bits).
   */
  async restore(attn) {
    const stored = await loadSession(this.storage);
    if (!stored) return undefined;
    const { meta, state, answer, records } = stored;
    const config = this.config;
    if (meta.config !== fingerprint(config)) {
      throw new ServiceError(409, 'CONFIG_MISMATCH', `session '${meta.id}' was stored with ${meta.config}; this deployment has ${fingerprint(config)}`);
    }
    let decoder;
    try {
      decoder = attn.decoderFromState(state); // checks the state's magic, version, checksum, sizes, projection
    } catch (error) {
      throw new ServiceError(500, error.code ?? 'INVALID_STATE', `session '${meta.id}': the stored snapshot does not load: ${error.message}`);
    }
    try {
      if (decoder.position !== meta.position || decoder.heads !== config.heads || decoder.valueDim !== config.valueDim) {
        throw new ServiceError(500, 'INVALID_STATE', `session '${meta.id}': the stored snapshot (position ${decoder.position}, heads ${decoder.heads}, valueDim ${decoder.valueDim}) does not match its record (position ${meta.position})`);
      }
      let last = meta.last && { kind: 'step', ...meta.last, answer: new Float32Array(answer.slice().buffer) }; // format 1 had steps only
      let lastRecord; // [input, answer] of the last record
      const keys = [];
      let bytes = 0;
      for (const record of records) {
        if (record.position !== decoder.position) {
          throw new ServiceError(500, 'INVALID_LOG', `session '${meta.id}': the log has a record at position ${record.position} where ${decoder.position} was expected (a missing record); the session cannot be restored past ${decoder.position}`);
        }
        const { input, answerDigest } = decodeRecord(config, record.bytes, record.position);
        const replayed = replayRecord(decoder, config, input);
        // the baseline build gives the same bits on every machine; the relaxed build only on the same one
        if (fnv1aWords(replayed) !== answerDigest && !config.relaxedSimd) {
          throw new ServiceError(500, 'REPLAY_MISMATCH', `session '${meta.id}': the log record at position ${input.position} answers other bits when applied again (another build of the decoder?)`);
        }
        lastRecord = [input, replayed];
        keys.push(...record.keys);
        bytes += record.bytes.length;
      }
      if (lastRecord) last = lastRequest(...lastRecord); // its digest only now: a long log is hashed once, its last record twice
      Object.assign(this, { meta, logKeys: keys, logTokens: decoder.position - meta.position, logBytes: bytes });
      return { id: meta.id, decoder, last };
    } catch (error) {
      decoder.dispose();
      throw error;
    }
  }

  /** Stores a new session (a snapshot at position 0). */
  async create(id, decoder) {
    const state = decoder.saveState();
    checkStateSize(state.length);
    await this.snapshot({ id, config: fingerprint(this.config), position: 0, last: undefined }, state, undefined);
  }

  /**
   * Makes a request applied to `decoder` durable (resolves once it is): its log record, or a snapshot
   * that also covers the records before it. `answer` is what the request is answered with.
   */
  async commit(id, decoder, input, answer) {
    const { snapshotTokens, snapshotLogBytes } = this.config;
    const recordBytes = recordLength(input); // a request stored as a snapshot is never encoded as a record
    if (this.logTokens + input.tokens >= snapshotTokens || this.logBytes + recordBytes > snapshotLogBytes || recordBytes >= this.meta.stateBytes) {
      const { answer: _, ...last } = lastRequest(input, answer);
      await this.snapshot({ id, config: fingerprint(this.config), position: decoder.position, last }, decoder.saveState(), bytesOf(answer));
      return;
    }
    const record = encodeRecord(input, fnv1aWords(answer));
    const { keys, written } = await appendRecord(this.storage, input.position, record);
    this.logKeys.push(...keys);
    this.logTokens += input.tokens;
    this.logBytes += record.length;
    this.written += written;
  }

  async snapshot(record, state, answer) {
    const { meta, written } = await saveSnapshot(this.storage, record, state, answer, this.logKeys);
    Object.assign(this, { meta, logKeys: [], logTokens: 0, logBytes: 0 });
    this.written += written;
  }

  /** Forgets the stored session. */
  async clear() {
    await this.storage.deleteAll();
    Object.assign(this, { meta: undefined, logKeys: [], logTokens: 0, logBytes: 0 });
  }

  /** What GET reports about the storage. */
  describe() {
    const meta = this.meta;
    return {
      stateBytes: meta.stateBytes, stateChunks: meta.stateChunks, storedBytes: storedBytes(meta, this.logBytes),
      snapshotPosition: meta.position, logRecords: new Set(this.logKeys.map((key) => key.slice(0, -4))).size, logTokens: this.logTokens, logBytes: this.logBytes,
      writtenBytes: this.written,
    };
  }
}
