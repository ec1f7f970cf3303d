// The wire format of the edge decoder service (docs/edge.md § Binary layout), shared by the Worker
// (which decodes requests and encodes responses) and by its clients (the test and the bench).
//
// Step request (Content-Type: application/octet-stream), little-endian:
//    0  u32 magic "PWSQ"
//    4  u32 tokens n (≥ 1)
//    8  f64 position: the session's position before these tokens (the client's expectation)
//   16  q f32[n · heads · dim], k f32[n · heads · dim], v f32[n · heads · valueDim]
//       token-major: token t, head h starts at (t · heads + h) · dim
// Step response (binary when the request was binary):
//    0  u32 magic "PWSR"   4  u32 tokens n   8  f64 position after the tokens
//   16  out f32[n · heads · valueDim], token-major
// JSON (Content-Type: application/json) carries the same fields: { position, q, k, v } flat number
// arrays in the same order; the answer is { position, tokens, outputs, replayed? }.

export const REQUEST_MAGIC = 0x51535750; // "PWSQ" as a little-endian u32
export const RESPONSE_MAGIC = 0x52535750; // "PWSR"
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
  const per = tokenSizes(shape);
  const tokens = q.length / per.q;
  const bytes = new Uint8Array(requestBytes(shape, tokens));
  const view = new DataView(bytes.buffer);
  view.setUint32(0, REQUEST_MAGIC, true);
  view.setUint32(4, tokens, true);
  view.setFloat64(8, position, true);
  const floats = new Float32Array(bytes.buffer, HEADER_BYTES);
  floats.set(q, 0);
  floats.set(k, q.length);
  floats.set(v, 2 * q.length);
  return bytes;
}

/**
 * Decodes a step request body (server side): { position, tokens, q, k, v } with q, k, v Float32Arrays.
 * The lengths are checked here; finiteness is the decoder's check (NON_FINITE).
 */
export function decodeStep(shape, body, contentType) {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (type === BINARY) return decodeBinaryStep(shape, body);
  if (type === JSON_TYPE) return decodeJsonStep(shape, body);
  throw new ServiceError(415, 'UNSUPPORTED_MEDIA_TYPE', `Content-Type must be ${BINARY} or ${JSON_TYPE}, got '${type}'`);
}

function decodeBinaryStep(shape, body) {
  if (body.byteLength < HEADER_BYTES) throw new ServiceError(400, 'INVALID_LENGTH', `a step body has a ${HEADER_BYTES}-byte header, got ${body.byteLength} bytes`);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  if (view.getUint32(0, true) !== REQUEST_MAGIC) throw new ServiceError(400, 'BAD_REQUEST', 'the body does not start with the step magic "PWSQ"');
  const tokens = view.getUint32(4, true);
  const position = checkPosition(view.getFloat64(8, true));
  checkTokens(shape, tokens);
  const expected = requestBytes(shape, tokens);
  if (body.byteLength !== expected) {
    throw new ServiceError(400, 'INVALID_LENGTH', `${tokens} tokens of heads ${shape.heads}, dim ${shape.dim}, valueDim ${shape.valueDim} take ${expected} bytes, got ${body.byteLength}`);
  }
  const per = tokenSizes(shape);
  // copy out of the body: the floats may not be 4-byte aligned in it
  const floats = new Float32Array(body.slice(HEADER_BYTES).buffer);
  const qn = tokens * per.q;
  return {
    position, tokens,
    q: floats.subarray(0, qn), k: floats.subarray(qn, 2 * qn), v: floats.subarray(2 * qn),
    digest: fnv1a(body.subarray(HEADER_BYTES)),
  };
}

function decodeJsonStep(shape, body) {
  let json;
  try {
    json = JSON.parse(new TextDecoder().decode(body));
  } catch (error) {
    throw new ServiceError(400, 'BAD_REQUEST', `the body is not JSON: ${error.message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ServiceError(400, 'INVALID_TYPE', 'a JSON step is an object { position, q, k, v }');
  const unknown = Object.keys(json).filter((key) => !['position', 'q', 'k', 'v'].includes(key));
  if (unknown.length) throw new ServiceError(400, 'UNKNOWN_OPTION', `unknown field(s) ${unknown.join(', ')}: a JSON step is { position, q, k, v }`);
  const position = checkPosition(json.position);
  const per = tokenSizes(shape);
  const q = floatArray('q', json.q);
  const tokens = q.length / per.q;
  if (!Number.isInteger(tokens)) throw new ServiceError(400, 'INVALID_LENGTH', `q has ${q.length} numbers, not a multiple of heads · dim = ${per.q}`);
  checkTokens(shape, tokens);
  const k = floatArray('k', json.k);
  const v = floatArray('v', json.v);
  if (k.length !== q.length) throw new ServiceError(400, 'INVALID_LENGTH', `k has ${k.length} numbers, expected ${q.length} (${tokens} tokens)`);
  if (v.length !== tokens * per.v) throw new ServiceError(400, 'INVALID_LENGTH', `v has ${v.length} numbers, expected ${tokens * per.v} (${tokens} tokens)`);
  const all = new Float32Array(2 * q.length + v.length);
  all.set(q, 0);
  all.set(k, q.length);
  all.set(v, 2 * q.length);
  return { position, tokens, q, k, v, digest: fnv1a(new Uint8Array(all.buffer)) };
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

function checkTokens(shape, tokens) {
  if (tokens < 1) throw new ServiceError(400, 'INVALID_SIZE', 'a step carries at least one token');
  if (tokens > shape.maxTokens) throw new ServiceError(413, 'TOO_MANY_TOKENS', `a step carries at most ${shape.maxTokens} tokens, got ${tokens}`);
}

/** The binary step response. */
export function encodeResult(position, tokens, outputs) {
  const bytes = new Uint8Array(HEADER_BYTES + outputs.byteLength);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, RESPONSE_MAGIC, true);
  view.setUint32(4, tokens, true);
  view.setFloat64(8, position, true);
  bytes.set(new Uint8Array(outputs.buffer, outputs.byteOffset, outputs.byteLength), HEADER_BYTES);
  return bytes;
}

/** Decodes a binary step response (client side): { position, tokens, outputs }. */
export function decodeResult(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < HEADER_BYTES || view.getUint32(0, true) !== RESPONSE_MAGIC) throw new Error('not a step response');
  return {
    position: view.getFloat64(8, true),
    tokens: view.getUint32(4, true),
    outputs: new Float32Array(bytes.slice(HEADER_BYTES).buffer),
  };
}

/** FNV-1a (32-bit) of bytes: the digest that recognizes a retried request. */
export function fnv1a(bytes) {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return h >>> 0;
}
