// The edge decoder service, a Worker in module syntax: routes /sessions/:id to the Durable Object of
// that session (binding SESSIONS, class DecoderSession), which owns its FavorDecoder. docs/edge.md
// documents the routes, the binary layout and the status codes.
//
//   PUT    /sessions/:id          create (201), or describe an existing session (200)
//   GET    /sessions/:id          { id, position, config, storage figures }
//   POST   /sessions/:id/step     one or more tokens' q, k, v at an expected position → outputs, position
//   POST   /sessions/:id/prefill  a prompt of many tokens in one parallel pass → the last output (or all)
//   GET    /sessions/:id/socket   a WebSocket: binary step/prefill frames, answered in order
//   DELETE /sessions/:id          forget the session
//   GET    /                      the service's configuration (a readiness probe)
import { describeConfig, readConfig } from './config.js';
import { asResponse } from './session.js';

export { DecoderSession } from './session.js';

const ROUTE = /^\/sessions\/([A-Za-z0-9._~-]{1,128})(\/step|\/prefill|\/socket)?$/;

/** A POST whose Content-Length is within the configuration's maxBodyBytes (the object refuses the others). */
function withinLimit(request, env) {
  const declared = request.headers.get('content-length');
  if (request.method !== 'POST' || declared === null) return false;
  try {
    return Number(declared) <= readConfig(env.DECODER_CONFIG).maxBodyBytes;
  } catch {
    return false; // an unusable configuration: the object reports it
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === '/') {
      try {
        return Response.json({ service: 'performer-wasm edge decoder', config: describeConfig(readConfig(env.DECODER_CONFIG)) });
      } catch (error) {
        return Response.json({ error: { code: error.code ?? 'INTERNAL', message: error.message } }, { status: 500 });
      }
    }
    const match = ROUTE.exec(url.pathname);
    if (!match) {
      return Response.json({ error: { code: 'NOT_FOUND', message: `no route ${url.pathname}: /sessions/:id (id: 1–128 of A–Z a–z 0–9 . _ ~ -) or /sessions/:id/step, /prefill, /socket` } }, { status: 404 });
    }
    const stub = env.SESSIONS.get(env.SESSIONS.idFromName(match[1]));
    if (match[2] && match[2] !== '/socket' && withinLimit(request, env)) {
      // a step or prefill whose declared length is within maxBodyBytes: its bytes read here and handed
      // to the object by RPC (a body passed on with fetch() is streamed again in small parts: a 6 MB
      // prefill took 15–20 ms more that way in workerd; docs/edge.md)
      const body = new Uint8Array(await request.arrayBuffer());
      return asResponse(await stub.post(match[1], match[2].slice(1), body, request.headers.get('content-type')));
    }
    // anything else goes on as it came (the object reads the session id from the same path)
    return stub.fetch(request);
  },
};
