// DecoderSession: the Durable Object of one generation session. It owns a FavorDecoder, applies the
// requests (steps and prefills, over HTTP or a WebSocket) in the order of their positions, and makes each
// durable (journal.js: a log record, or a snapshot) before it answers. When the object starts (a fresh
// process, an eviction, a restart, a wake from hibernation) it restores the decoder from the snapshot and
// the log; a snapshot or a record that fails its checks is reported, never skipped or reset.
import { DurableObject } from 'cloudflare:workers';
import { FavorAttention, init, PerformerError } from 'performer-wasm';
import { applyRequest } from './apply.js';
import { describeConfig, MAX_VALUES, readConfig, VALUE_BYTES } from './config.js';
import { isRetryOf, Journal, lastRequest } from './journal.js';
import { BINARY, decodeRequest, encodeResult, JSON_TYPE, ServiceError } from './protocol.js';

// One wasm module and one FavorAttention (the projection) per isolate, shared by its sessions.
// init() runs once: a second init() would retire the decoders built on the first module.
let ready;
function attention(config) {
  ready ??= init(undefined, { relaxedSimd: config.relaxedSimd }).then(() =>
    new FavorAttention({ dim: config.dim, features: config.features, kernel: config.kernel, seed: config.seed, causal: true }));
  return ready;
}

/** The methods of each route of a session (worker.js routes /sessions/:id[/step|/prefill|/socket] here). */
const METHODS = { session: ['GET', 'PUT', 'DELETE'], step: ['POST'], prefill: ['POST'], socket: ['GET'] };

export class DecoderSession extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env); // (sets this.ctx)
    this.session = undefined; // { id, decoder, last } (last: the request a retry is answered from)
    this.failure = undefined; // a ServiceError when the configuration or the stored session is unusable
    this.queue = Promise.resolve();
    ctx.blockConcurrencyWhile(() => this.start(env).catch((error) => { this.failure = asServiceError(error); }));
  }

  async start(env) {
    this.config = readConfig(env.DECODER_CONFIG);
    this.attn = await attention(this.config).catch((error) => {
      throw new ServiceError(500, 'CONFIG_INVALID', `DECODER_CONFIG: ${error.message}`);
    });
    this.journal = new Journal(this.ctx.storage, this.config);
    this.session = await this.journal.restore(this.attn);
  }

  async fetch(request) {
    try {
      const path = new URL(request.url).pathname;
      const match = /^\/sessions\/([^/]+)(?:\/(step|prefill|socket))?$/.exec(path); // (worker.js checked the id)
      if (!match) throw new ServiceError(404, 'NOT_FOUND', `no route ${path}`);
      const [, id, route = 'session'] = match;
      const method = request.method;
      if (!METHODS[route].includes(method)) throw new ServiceError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed here (allowed: ${METHODS[route].join(', ')})`);
      if (method === 'DELETE') return await this.serially(() => this.remove());
      if (this.failure) throw this.failure;
      if (route === 'socket') return this.accept(request, id);
      if (method === 'PUT') return await this.serially(() => this.create(id));
      if (method === 'GET') return await this.serially(() => json(200, this.describe(this.existing(id))));
      const body = await readBody(request, this.config.maxBodyBytes); // before the queue: a slow upload does not hold up the session's other requests
      return asResponse(await this.post(id, route, body, request.headers.get('content-type')));
    } catch (error) {
      return asResponse(errorAnswer(error));
    }
  }

  /**
   * POST …/step or …/prefill with its body read: { status, headers, body } (a plain object, so that
   * worker.js can call it as an RPC method with the bytes, one copy instead of a streamed body).
   */
  async post(id, route, body, type) {
    try {
      if (this.failure) throw this.failure;
      if (!(body instanceof Uint8Array)) throw new ServiceError(400, 'BAD_REQUEST', 'the body must be bytes');
      if (body.byteLength > this.config.maxBodyBytes) throw new ServiceError(413, 'BODY_TOO_LARGE', `the body has ${body.byteLength} bytes; the limit is ${this.config.maxBodyBytes}`);
      const input = decodeRequest(this.config, body, type, route);
      const answer = await this.serially(() => this.apply(id, input));
      const headers = { 'x-position': String(answer.position), 'x-replayed': String(answer.replayed) };
      if ((type ?? '').startsWith(BINARY)) return { status: 200, headers: { ...headers, 'content-type': BINARY }, body: encodeAnswer(answer) };
      return jsonAnswer(200, { position: answer.position, tokens: answer.rows, outputs: Array.from(answer.outputs), replayed: answer.replayed }, headers);
    } catch (error) {
      return errorAnswer(error);
    }
  }

  /** GET …/socket with Upgrade: websocket: a socket of this session (hibernatable: the object may sleep between frames). */
  accept(request, id) {
    if ((request.headers.get('upgrade') ?? '').toLowerCase() !== 'websocket') throw new ServiceError(426, 'UPGRADE_REQUIRED', 'GET …/socket opens a WebSocket (Upgrade: websocket)');
    this.existing(id);
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({ id });
    return new Response(null, { status: 101, webSocket: client });
  }

  /** A frame: a binary request, answered in order by a binary answer or a text frame { status, error }. */
  async webSocketMessage(ws, message) {
    await this.serially(async () => {
      let reply;
      try {
        if (this.failure) throw this.failure;
        const bytes = typeof message === 'string' ? new TextEncoder().encode(message) : new Uint8Array(message);
        if (bytes.byteLength > this.config.maxBodyBytes) throw new ServiceError(413, 'BODY_TOO_LARGE', `the frame has ${bytes.byteLength} bytes; the limit is ${this.config.maxBodyBytes}`);
        const input = decodeRequest(this.config, bytes, typeof message === 'string' ? JSON_TYPE : BINARY, 'socket');
        reply = encodeAnswer(await this.apply(ws.deserializeAttachment().id, input));
      } catch (error) {
        reply = JSON.stringify(errorBody(asServiceError(error)));
      }
      ws.send(reply);
    });
  }

  webSocketClose(ws, code) {
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, 'closed');
    } catch {
      // already closed
    }
  }

  /** Runs `work` after every request queued before it (a session applies one request at a time). */
  serially(work) {
    const run = this.queue.then(work);
    this.queue = run.catch(() => {});
    return run;
  }

  existing(id) {
    if (!this.session) throw new ServiceError(404, 'NOT_FOUND', `no session '${id}' (PUT /sessions/${id} creates it)`);
    return this.session;
  }

  /** PUT: creates the session at position 0 (201), or describes the existing one (200). */
  async create(id) {
    if (this.session) return json(200, this.describe(this.session));
    const decoder = this.attn.decoder({ heads: this.config.heads, valueDim: this.config.valueDim });
    try {
      await this.journal.create(id, decoder);
    } catch (error) {
      decoder.dispose();
      throw error instanceof ServiceError ? error : new ServiceError(500, 'STORAGE_FAILED', `the session could not be stored: ${error.message}`);
    }
    this.session = { id, decoder, last: undefined };
    return json(201, this.describe(this.session));
  }

  /** DELETE: forgets the session (also one whose stored state failed to load). */
  async remove() {
    if (!this.session && !this.failure) throw new ServiceError(404, 'NOT_FOUND', 'no such session');
    const position = this.session?.decoder.position;
    await this.journal.clear();
    this.session?.decoder.dispose();
    this.session = undefined;
    this.failure = undefined;
    return json(200, { deleted: true, position });
  }

  /**
   * A step or prefill request: applied if it expects the session's position, then made durable, then
   * answered ({ position, rows, outputs, replayed }); a retry of the last applied request (same kind,
   * position, tokens) gets its answer again; anything else is a 409.
   */
  async apply(id, input) {
    const s = this.existing(id);
    if (input.position !== s.decoder.position) return this.replay(s, input);
    const { heads, valueDim } = this.config;
    const rows = input.kind === 'prefill-last' ? 1 : input.tokens;
    if (this.journal.meta.stateChunks + Math.ceil((4 * rows * heads * valueDim) / VALUE_BYTES) > MAX_VALUES) {
      throw new ServiceError(413, 'TOO_MANY_TOKENS', `the outputs of ${rows} tokens do not fit one atomic write beside the state: ask for the last output only, or send fewer tokens`);
    }
    let outputs;
    try {
      outputs = applyRequest(s.decoder, this.config, input);
    } catch (error) {
      // a refused token after others were applied, or a wasm trap: back to the stored session
      if (s.decoder.position !== input.position || error.code === 'KERNEL_FAULT') await this.rollback();
      throw withPosition(error, this.session);
    }
    try {
      await this.journal.commit(s.id, s.decoder, input, outputs);
      await this.ctx.storage.sync(); // (the output gate holds the answer until the write is durable anyway)
    } catch (error) {
      await this.rollback();
      throw withPosition(error instanceof ServiceError ? error : new ServiceError(500, 'STORAGE_FAILED', `the request was not stored: ${error.message}`), this.session);
    }
    s.last = lastRequest(input, outputs);
    return { position: s.decoder.position, rows, outputs, replayed: false };
  }

  /** A request whose position is not the session's: the answer of a retried last request, or a 409. */
  replay(s, input) {
    const at = s.decoder.position;
    const last = s.last;
    if (isRetryOf(last, input)) {
      return { position: last.from + last.tokens, rows: last.kind === 'prefill-last' ? 1 : last.tokens, outputs: last.answer, replayed: true };
    }
    if (input.position < at) {
      const lastText = last ? `only the last request (${last.kind} at position ${last.from}, ${last.tokens} token(s), the same tokens) is answered again` : 'nothing can be answered again';
      throw new ServiceError(409, 'ALREADY_APPLIED', `position ${input.position} was already applied: the session is at ${at}; ${lastText}`, { position: at });
    }
    throw new ServiceError(409, 'POSITION_MISMATCH', `the session is at position ${at}, the request expects ${input.position}`, { position: at });
  }

  /** Back to the stored session after a failed request (nothing of it was stored): the session is untouched. */
  async rollback() {
    this.session?.decoder.dispose();
    this.session = undefined;
    try {
      this.session = await this.journal.restore(this.attn);
    } catch (error) {
      this.failure = asServiceError(error);
    }
  }

  describe(s) {
    return { id: s.id, position: s.decoder.position, config: describeConfig(this.config), ...this.journal.describe() };
  }
}

/** The error with the session's position (after a rollback) in error.position. */
function withPosition(error, session) {
  const e = asServiceError(error);
  if (session) e.extra = { ...e.extra, position: session.decoder.position };
  return e;
}

function encodeAnswer(answer) {
  return encodeResult(answer.position, answer.rows, answer.outputs, answer.replayed);
}

function errorBody(e) {
  return { status: e.status, error: { code: e.code, message: e.message, ...e.extra } };
}

function jsonAnswer(status, body, headers = {}) {
  return { status, headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

function errorAnswer(error) {
  const e = asServiceError(error);
  return jsonAnswer(e.status, errorBody(e));
}

/** An answer { status, headers, body } as a Response. */
export function asResponse(answer) {
  return new Response(answer.body, { status: answer.status, headers: answer.headers });
}

function json(status, body, headers = {}) {
  return asResponse(jsonAnswer(status, body, headers));
}

/** A PerformerError keeps its code (a 400: the input was refused before any work); anything else is a 500. */
function asServiceError(error) {
  if (error instanceof ServiceError) return error;
  if (error instanceof PerformerError) return new ServiceError(error.code === 'KERNEL_FAULT' ? 500 : 400, error.code, error.message);
  return new ServiceError(500, 'INTERNAL', String(error?.stack ?? error));
}

/** The body as bytes, refused with 413 past `limit` bytes (by its Content-Length, or while it streams). */
async function readBody(request, limit) {
  const declared = request.headers.get('content-length');
  if (declared !== null) {
    if (Number(declared) > limit) throw new ServiceError(413, 'BODY_TOO_LARGE', `the body has ${declared} bytes; the limit is ${limit}`);
    return new Uint8Array(await request.arrayBuffer());
  }
  if (!request.body) return new Uint8Array(0);
  const parts = [];
  let total = 0;
  for await (const part of request.body) {
    total += part.byteLength;
    if (total > limit) throw new ServiceError(413, 'BODY_TOO_LARGE', `the body exceeds the limit of ${limit} bytes`);
    parts.push(part);
  }
  const body = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    body.set(part, at);
    at += part.byteLength;
  }
  return body;
}
