// The wire format of the edge decoder service (docs/edge.md § Binary layout), shared by the Worker
// (which decodes requests and encodes responses) and by its clients (the test and the bench).
//
// Request (HTTP body, Content-Type: application/octet-stream, or a binary WebSocket frame), little-endian:
//    0  u32 magic: "PWSQ" steps (every output), "PWPL" prefill answering the last token's output,
//       "PWPA" prefill answering every output
//    4  u32 tokens n (≥ 1)
//    8  f64 position: the session's position before these tokens (the client's expectation)
//   16  q f32[n · heads · dim], k f32[n · heads · dim], v f32[n · heads · valueDim]
//       token-major: token t, head h starts at (t · heads + h) · dim
// Response (binary when the request was binary):
//    0  u32 magic "PWSR" ("PWSD" on a WebSocket when it is the replayed answer of a retried request)
//    4  u32 rows: the tokens whose outputs follow (n, or 1 for "PWPL")   8  f64 position after the tokens
//   16  out f32[rows · heads · valueDim], token-major
// JSON (Content-Type: application/json) carries the same fields: { position, q, k, v } flat number
// arrays in the same order (a prefill may add outputs: "last" | "all"); the answer is
// { position, tokens, outputs, replayed }.

export const REQUEST_MAGIC = 0x51535750; // "PWSQ" as a little-endian u32
export const PREFILL_LAST_MAGIC = 0x4c505750; // "PWPL"
export const PREFILL_ALL_MAGIC = 0x41505750; // "PWPA"
export const RESPONSE_MAGIC = 0x52535750; // "PWSR"
export const REPLAYED_MAGIC = 0x44535750; // "PWSD"
/** The kinds of request, in the order of their codes in a log record. */
export const KINDS = ['step', 'prefill-last', 'prefill-all'];
const MAGICS = { step: REQUEST_MAGIC, 'prefill-last': PREFILL_LAST_MAGIC, 'prefill-all': PREFILL_ALL_MAGIC };
export const HEADER_BYTES = 16;
export const BINARY = 'application/octet-stream';
export const JSON_TYPE = 'application/json';

/** A refused request: the HTTP status, a code (the package's PerformerError codes, or the service's own), a reason. */
export class ServiceError extends Error {
  constructor(status, code, message, extra = {}) {
    super(message);
    this.name = 'ServiceError';
    this.status = status;
    this.code = code;
    this.extra = extra;
  }
}

/** Floats per token: { q, k, v } lengths for one token of every head. */
export function tokenSizes(shape) {
  return { q: shape.heads * shape.dim, v: shape.heads * shape.valueDim };
}

/** Bytes of a binary step request of `tokens` tokens. */
export function requestBytes(shape, tokens) {
  const per = tokenSizes(shape);
  return HEADER_BYTES + 4 * tokens * (2 * per.q + per.v);
}

/** Encodes a step request (client side). q, k, v hold every token, token-major. */
export function encodeStep(shape, position, q, k, v) {
  return encodeRequest(shape, 'step', position, q, k, v);
}

/** Encodes a request of a kind ('step', 'prefill-last', 'prefill-all'); q, k, v token-major. */
export function encodeRequest(shape, kind, position, q, k, v) {
  const per = tokenSizes(shape);
  const tokens = q.length / per.q;
  const bytes = new Uint8Array(requestBytes(shape, tokens));
  const view = new DataView(bytes.buffer);
  view.setUint32(0, MAGICS[kind], true);
  view.setUint32(4, tokens, true);
  view.setFloat64(8, position, true);
  const floats = new Float32Array(bytes.buffer, HEADER_BYTES);
  floats.set(q, 0);
  floats.set(k, q.length);
  floats.set(v, 2 * q.length);
  return bytes;
}

/**
 * Decodes a request body (server side) for a route: 'step' (POST …/step), 'prefill' (POST …/prefill)
 * or 'socket' (a binary WebSocket frame, either kind). Returns { kind, position, tokens, floats (q, k,
 * v one after the other), q, k, v, digest }. The lengths are checked here; finiteness is the decoder's
 * check (NON_FINITE).
 */
export function decodeRequest(shape, body, contentType, route) {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (type === BINARY) return decodeBinary(shape, body, route);
  if (type === JSON_TYPE && route !== 'socket') return decodeJson(shape, body, route);
  throw new ServiceError(415, 'UNSUPPORTED_MEDIA_TYPE', route === 'socket' ? 'WebSocket requests are binary frames' : `Content-Type must be ${BINARY} or ${JSON_TYPE}, got '${type}'`);
}

/** The step request of decodeRequest (the body of POST …/step). */
export function decodeStep(shape, body, contentType) {
  return decodeRequest(shape, body, contentType, 'step');
}

function decodeBinary(shape, body, route) {
  if (body.byteLength < HEADER_BYTES) throw new ServiceError(400, 'INVALID_LENGTH', `a request has a ${HEADER_BYTES}-byte header, got ${body.byteLength} bytes`);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const magic = view.getUint32(0, true);
  const kind = KINDS.find((name) => MAGICS[name] === magic);
  const allowed = route === 'socket' ? KINDS : route === 'step' ? ['step'] : ['prefill-last', 'prefill-all'];
  if (!allowed.includes(kind)) throw new ServiceError(400, 'BAD_REQUEST', `the body does not start with ${allowed.map((name) => `"${magicText(MAGICS[name])}"`).join(' or ')}`);
  const tokens = view.getUint32(4, true);
  const position = checkPosition(view.getFloat64(8, true));
  checkTokens(shape, kind, tokens);
  const expected = requestBytes(shape, tokens);
  if (body.byteLength !== expected) {
    throw new ServiceError(400, 'INVALID_LENGTH', `${tokens} tokens of heads ${shape.heads}, dim ${shape.dim}, valueDim ${shape.valueDim} take ${expected} bytes, got ${body.byteLength}`);
  }
  // the floats in place when they are 4-byte aligned in the body (the body is the request's own), else a copy
  const at = body.byteOffset + HEADER_BYTES;
  const floats = at % 4 ? new Float32Array(body.slice(HEADER_BYTES).buffer) : new Float32Array(body.buffer, at, (body.byteLength - HEADER_BYTES) / 4);
  return request(shape, kind, position, tokens, floats);
}

/**
 * A decoded request: its floats (q, k, v one after the other, as sent and as logged), views of them,
 * and the digest that recognizes its retry (fnv1aWords of the floats, computed when first read: a
 * replayed log needs only its last).
 */
export function request(shape, kind, position, tokens, floats) {
  const qn = tokens * tokenSizes(shape).q;
  let digest;
  return {
    kind, position, tokens, floats, q: floats.subarray(0, qn), k: floats.subarray(qn, 2 * qn), v: floats.subarray(2 * qn),
    get digest() {
      return (digest ??= fnv1aWords(floats));
    },
  };
}

function magicText(magic) {
  return String.fromCharCode(magic & 255, (magic >>> 8) & 255, (magic >>> 16) & 255, magic >>> 24);
}

function decodeJson(shape, body, route) {
  let json;
  try {
    json = JSON.parse(new TextDecoder().decode(body));
  } catch (error) {
    throw new ServiceError(400, 'BAD_REQUEST', `the body is not JSON: ${error.message}`);
  }
  const fields = route === 'step' ? ['position', 'q', 'k', 'v'] : ['position', 'q', 'k', 'v', 'outputs'];
  const form = `{ ${fields.join(', ')} }`;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ServiceError(400, 'INVALID_TYPE', `a JSON ${route} is an object ${form}`);
  const unknown = Object.keys(json).filter((key) => !fields.includes(key));
  if (unknown.length) throw new ServiceError(400, 'UNKNOWN_OPTION', `unknown field(s) ${unknown.join(', ')}: a JSON ${route} is ${form}`);
  if (json.outputs !== undefined && json.outputs !== 'last' && json.outputs !== 'all') throw new ServiceError(400, 'UNKNOWN_OPTION', `outputs is "last" or "all", got ${JSON.stringify(json.outputs)}`);
  const kind = route === 'step' ? 'step' : `prefill-${json.outputs ?? 'last'}`;
  const position = checkPosition(json.position);
  const per = tokenSizes(shape);
  const q = floatArray('q', json.q);
  const tokens = q.length / per.q;
  if (!Number.isInteger(tokens)) throw new ServiceError(400, 'INVALID_LENGTH', `q has ${q.length} numbers, not a multiple of heads · dim = ${per.q}`);
  checkTokens(shape, kind, tokens);
  const k = floatArray('k', json.k);
  const v = floatArray('v', json.v);
  if (k.length !== q.length) throw new ServiceError(400, 'INVALID_LENGTH', `k has ${k.length} numbers, expected ${q.length} (${tokens} tokens)`);
  if (v.length !== tokens * per.v) throw new ServiceError(400, 'INVALID_LENGTH', `v has ${v.length} numbers, expected ${tokens * per.v} (${tokens} tokens)`);
  const all = new Float32Array(2 * q.length + v.length);
  all.set(q, 0);
  all.set(k, q.length);
  all.set(v, 2 * q.length);
  return request(shape, kind, position, tokens, all);
}

function floatArray(name, value) {
  if (!Array.isArray(value)) throw new ServiceError(400, 'INVALID_TYPE', `${name} must be an array of numbers`);
  const out = new Float32Array(value.length);
  for (let i = 0; i < value.length; i++) {
    if (typeof value[i] !== 'number') throw new ServiceError(400, 'INVALID_TYPE', `${name}[${i}] is ${JSON.stringify(value[i])}, not a number`);
    out[i] = value[i];
  }
  return out;
}

function checkPosition(position) {
  if (!Number.isSafeInteger(position) || position < 0) throw new ServiceError(400, 'INVALID_SIZE', `position must be a non-negative integer, got ${position}`);
  return position;
}

function checkTokens(shape, kind, tokens) {
  const [what, most] = kind === 'step' ? ['step', shape.maxTokens] : ['prefill', shape.maxPrefillTokens];
  if (tokens < 1) throw new ServiceError(400, 'INVALID_SIZE', `a ${what} carries at least one token`);
  if (tokens > most) throw new ServiceError(413, 'TOO_MANY_TOKENS', `a ${what} carries at most ${most} tokens, got ${tokens}`);
}

/** The binary response: `rows` tokens' outputs and the position after the request (PWSD: a replayed answer). */
export function encodeResult(position, rows, outputs, replayed = false) {
  const bytes = new Uint8Array(HEADER_BYTES + outputs.byteLength);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, replayed ? REPLAYED_MAGIC : RESPONSE_MAGIC, true);
  view.setUint32(4, rows, true);
  view.setFloat64(8, position, true);
  bytes.set(new Uint8Array(outputs.buffer, outputs.byteOffset, outputs.byteLength), HEADER_BYTES);
  return bytes;
}

/** Decodes a binary response (client side): { position, tokens (rows of outputs), outputs, replayed }. */
export function decodeResult(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = bytes.byteLength >= HEADER_BYTES ? view.getUint32(0, true) : 0;
  if (magic !== RESPONSE_MAGIC && magic !== REPLAYED_MAGIC) throw new Error('not a step response');
  return {
    position: view.getFloat64(8, true),
    tokens: view.getUint32(4, true),
    outputs: new Float32Array(bytes.slice(HEADER_BYTES).buffer),
    replayed: magic === REPLAYED_MAGIC,
  };
}

/** FNV-1a (32-bit) of the bytes of a typed array: the retry digest of a request stored before digests were over words. */
export function fnv1a(array) {
  let h = 0x811c9dc5;
  const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return h >>> 0;
}

/**
 * FNV-1a's steps over the 32-bit words of a typed array (4-byte aligned), four times fewer than over its
 * bytes; any single changed word changes the result. The digest of an answer and the checksum of a log
 * record (a restart hashes every record), and the retry digest of a request. `h`: the hash of the words before these (to hash in parts).
 */
export function fnv1aWords(array, h = 0x811c9dc5) {
  const words = new Uint32Array(array.buffer, array.byteOffset, array.byteLength >>> 2);
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i], 0x01000193);
  return h >>> 0;
}
