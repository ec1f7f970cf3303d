// One log record: a request the session applied, complete enough to apply it again (the decoder is
// deterministic), written in the same atomic put that acknowledges the request. Little-endian:
//    0  u32 magic "PWLG"       4  u32 kind (0 step, 1 prefill answering the last output, 2 prefill answering all)
//    8  f64 position before the request                       16  u32 tokens n
//   20  u32 digest of the answer (fnv1aWords of its output floats)  24  u32 checksum (fnv1aWords of the record, this field 0)
//   28  u32 0
//   32  the request's floats: q, k, v of its n tokens, token-major (as the request carried them)
import { fnv1aWords, KINDS, request, ServiceError } from './protocol.js';

const MAGIC = 0x474c5750; // "PWLG"
const HEADER = 32;

/** Bytes of the record of a request. */
export function recordLength(input) {
  return HEADER + input.floats.byteLength;
}

/** The record of an applied request (from protocol.js's request()) whose answer had digest `answerDigest`. */
export function encodeRecord(input, answerDigest) {
  const bytes = new Uint8Array(recordLength(input));
  const view = new DataView(bytes.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, KINDS.indexOf(input.kind), true);
  view.setFloat64(8, input.position, true);
  view.setUint32(16, input.tokens, true);
  view.setUint32(20, answerDigest, true);
  bytes.set(new Uint8Array(input.floats.buffer, input.floats.byteOffset, input.floats.byteLength), HEADER);
  view.setUint32(24, fnv1aWords(bytes), true);
  return bytes;
}

/**
 * The request in a stored record, and the digest of the answer it got: { input, answerDigest }.
 * A record that fails its checks (checksum, magic, kind, length, the position its key names) is a
 * 500 INVALID_LOG: a log is never replayed past a damaged record.
 */
export function decodeRecord(shape, bytes, position) {
  const fail = (reason) => new ServiceError(500, 'INVALID_LOG', `the log record at position ${position} ${reason}; the session cannot be restored past it (DELETE clears the session)`);
  if (bytes.byteLength < HEADER || bytes.byteLength % 4) throw fail(`has ${bytes.byteLength} bytes`);
  const copy = bytes.byteOffset % 4 ? bytes.slice() : bytes; // the floats are read in place
  const view = new DataView(copy.buffer, copy.byteOffset, copy.byteLength);
  const checksum = view.getUint32(24, true);
  // the record's bytes with the checksum field as 0
  if (fnv1aWords(copy.subarray(28), fnv1aWords(new Uint32Array(1), fnv1aWords(copy.subarray(0, 24)))) !== checksum) throw fail('fails its checksum (a changed byte)');
  const kind = KINDS[view.getUint32(4, true)];
  const tokens = view.getUint32(16, true);
  const per = 4 * shape.heads * (2 * shape.dim + shape.valueDim);
  if (view.getUint32(0, true) !== MAGIC || !kind) throw fail('is not a record of this layout');
  if (view.getFloat64(8, true) !== position) throw fail(`names position ${view.getFloat64(8, true)}`);
  if (tokens < 1 || copy.byteLength !== HEADER + tokens * per) throw fail(`holds ${copy.byteLength} bytes for ${tokens} tokens`);
  return { input: request(shape, kind, position, tokens, new Float32Array(copy.buffer, copy.byteOffset + HEADER, (copy.byteLength - HEADER) / 4)), answerDigest: view.getUint32(20, true) };
}
