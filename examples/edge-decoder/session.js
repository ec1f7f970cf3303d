// DecoderSession: the Durable Object of one generation session. It owns a FavorDecoder, applies the
// steps in the order of their positions, and persists the decoder's saved state (and its last response,
// for retries) before it answers. When the object starts (a fresh process, an eviction, a restart) it
// restores the decoder from storage; a state that fails its checks is reported, never reset.
import { FavorAttention, init, PerformerError } from 'performer-wasm';
import { describeConfig, fingerprint, readConfig } from './config.js';
import { BINARY, decodeStep, encodeResult, ServiceError } from './protocol.js';
import { checkStateSize, loadSession, saveSession, storedBytes } from './storage.js';

// One wasm module and one FavorAttention (the projection) per isolate, shared by its sessions.
// init() runs once: a second init() would retire the decoders built on the first module.
let ready;
function attention(config) {
  ready ??= init(undefined, { relaxedSimd: config.relaxedSimd }).then(() =>
    new FavorAttention({ dim: config.dim, features: config.features, kernel: config.kernel, seed: config.seed, causal: true }));
  return ready;
}

export class DecoderSession {
  constructor(ctx, env) {
    this.storage = ctx.storage;
    this.session = undefined; // { id, decoder, state (the stored bytes), last, meta }
    this.failure = undefined; // a ServiceError when the configuration or the stored state is unusable
    this.queue = Promise.resolve();
    ctx.blockConcurrencyWhile(() => this.start(env).catch((error) => { this.failure = asServiceError(error); }));
  }

  async start(env) {
    this.config = readConfig(env.DECODER_CONFIG);
    this.attn = await attention(this.config).catch((error) => {
      throw new ServiceError(500, 'CONFIG_INVALID', `DECODER_CONFIG: ${error.message}`);
    });
    const stored = await loadSession(this.storage);
    if (!stored) return;
    const { meta, state } = stored;
    if (meta.config !== fingerprint(this.config)) {
      throw new ServiceError(409, 'CONFIG_MISMATCH', `session '${meta.id}' was stored with ${meta.config}; this deployment has ${fingerprint(this.config)}`);
    }
    let decoder;
    try {
      decoder = this.attn.decoderFromState(state); // checks the state's magic, version, checksum, sizes, projection
    } catch (error) {
      throw new ServiceError(500, error.code ?? 'INVALID_STATE', `session '${meta.id}': the stored decoder state does not load: ${error.message}`);
    }
    if (decoder.position !== meta.position || decoder.heads !== this.config.heads || decoder.valueDim !== this.config.valueDim) {
      decoder.dispose();
      throw new ServiceError(500, 'INVALID_STATE', `session '${meta.id}': the stored state (position ${decoder.position}, heads ${decoder.heads}, valueDim ${decoder.valueDim}) does not match its record (position ${meta.position})`);
    }
    this.session = { id: meta.id, decoder, state, last: meta.last, meta };
  }

  async fetch(request) {
    try {
      const url = new URL(request.url);
      const step = url.pathname.endsWith('/step');
      const method = request.method;
      if (step && method !== 'POST') throw methodNotAllowed(method, 'POST');
      if (!step && !['GET', 'PUT', 'DELETE'].includes(method)) throw methodNotAllowed(method, 'GET, PUT, DELETE');
      if (method === 'DELETE') return await this.serially(() => this.remove());
      if (this.failure) throw this.failure;
      const id = request.headers.get('x-session-id');
      if (method === 'PUT') return await this.serially(() => this.create(id));
      if (method === 'GET') return await this.serially(() => json(200, this.describe(this.existing(id))));
      const body = await readBody(request, this.config.maxBodyBytes); // before the queue: a slow upload does not hold up the session's other requests
      const input = decodeStep(this.config, body, request.headers.get('content-type'));
      return await this.serially(() => this.step(id, input, request.headers.get('content-type')));
    } catch (error) {
      const e = asServiceError(error);
      return json(e.status, { error: { code: e.code, message: e.message, ...e.extra } });
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
    const state = decoder.saveState();
    checkStateSize(state.length);
    let meta;
    try {
      meta = await saveSession(this.storage, { id, config: fingerprint(this.config), position: 0, last: undefined }, state);
    } catch (error) {
      decoder.dispose();
      throw new ServiceError(500, 'STORAGE_FAILED', `the session could not be stored: ${error.message}`);
    }
    this.session = { id, decoder, state, last: undefined, meta };
    return json(201, this.describe(this.session));
  }

  /** DELETE: forgets the session (also one whose stored state failed to load). */
  async remove() {
    if (!this.session && !this.failure) throw new ServiceError(404, 'NOT_FOUND', 'no such session');
    const position = this.session?.decoder.position;
    await this.storage.deleteAll();
    this.session?.decoder.dispose();
    this.session = undefined;
    this.failure = undefined;
    return json(200, { deleted: true, position });
  }

  /**
   * POST /step: applies the tokens if the request expects the session's position; a retry of the last
   * applied request (same position, same tokens) gets its stored answer; anything else is a 409.
   */
  async step(id, input, contentType) {
    const s = this.existing(id);
    const { decoder } = s;
    if (input.position !== decoder.position) return this.replay(s, input, contentType);
    const { heads, valueDim } = this.config;
    const per = heads * this.config.dim;
    const outputs = new Float32Array(input.tokens * heads * valueDim);
    let t = 0;
    try {
      for (; t < input.tokens; t++) {
        decoder.step(input.q.subarray(t * per, (t + 1) * per), input.k.subarray(t * per, (t + 1) * per),
          input.v.subarray(t * heads * valueDim, (t + 1) * heads * valueDim), outputs.subarray(t * heads * valueDim, (t + 1) * heads * valueDim));
      }
    } catch (error) {
      this.rollback(s);
      if (error instanceof PerformerError) {
        const status = error.code === 'KERNEL_FAULT' ? 500 : 400;
        throw new ServiceError(status, error.code, `token ${t} of the request (position ${input.position + t}): ${error.message}`, { position: s.decoder.position });
      }
      throw error;
    }
    const last = { from: input.position, tokens: input.tokens, digest: input.digest, outputs: new Uint8Array(outputs.buffer) };
    const state = decoder.saveState();
    let meta;
    try {
      meta = await saveSession(this.storage, { id: s.id, config: fingerprint(this.config), position: decoder.position, last }, state);
    } catch (error) {
      this.rollback(s);
      throw new ServiceError(500, 'STORAGE_FAILED', `the step was not stored (the session stays at ${s.decoder.position}): ${error.message}`);
    }
    Object.assign(s, { state, last, meta });
    return result(decoder.position, input.tokens, outputs, contentType, false);
  }

  /** A request whose position is not the session's: the stored answer of a retried last request, or a 409. */
  replay(s, input, contentType) {
    const at = s.decoder.position;
    const last = s.last;
    if (last && input.position === last.from && input.tokens === last.tokens && input.digest === last.digest) {
      return result(last.from + last.tokens, last.tokens, new Float32Array(last.outputs.slice().buffer), contentType, true);
    }
    if (input.position < at) {
      const lastText = last ? `only the last request (position ${last.from}, ${last.tokens} token(s), the same tokens) is replayed` : 'nothing can be replayed';
      throw new ServiceError(409, 'ALREADY_APPLIED', `position ${input.position} was already applied: the session is at ${at}; ${lastText}`, { position: at });
    }
    throw new ServiceError(409, 'POSITION_MISMATCH', `the session is at position ${at}, the request expects ${input.position}`, { position: at });
  }

  /** Back to the stored state after a failed request: the session is untouched. */
  rollback(s) {
    s.decoder.dispose();
    s.decoder = this.attn.decoderFromState(s.state);
  }

  describe(s) {
    return { id: s.id, position: s.decoder.position, config: describeConfig(this.config), stateBytes: s.state.length, stateChunks: s.meta.stateChunks, storedBytes: storedBytes(s.meta) };
  }
}

function result(position, tokens, outputs, contentType, replayed) {
  const headers = { 'x-position': String(position), 'x-replayed': String(replayed) };
  if ((contentType ?? '').startsWith(BINARY)) {
    return new Response(encodeResult(position, tokens, outputs), { status: 200, headers: { ...headers, 'content-type': BINARY } });
  }
  return json(200, { position, tokens, outputs: Array.from(outputs), replayed }, headers);
}

function json(status, body, headers = {}) {
  return new Response(JSON.stringify(body), { status, headers: { ...headers, 'content-type': 'application/json' } });
}

function methodNotAllowed(method, allowed) {
  return new ServiceError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed here (allowed: ${allowed})`);
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
