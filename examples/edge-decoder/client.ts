// A small client of the edge decoder service (the test and the bench use it): HTTP steps and prefills,
// and a session's WebSocket.
import { Agent, request } from 'node:http';
import { BINARY, decodeResult, encodeRequest, JSON_TYPE, type RequestKind, type StepShape } from './protocol.js';
import { SocketClient } from './socket-client.ts';

export type Format = 'binary' | 'json';

export interface StepAnswer {
  status: number;
  /** The session's position after the request (on success), or its position as a 409 reports it. */
  position?: number;
  outputs?: Float32Array;
  replayed?: boolean;
  error?: { code: string; message: string; position?: number };
}

export interface Body {
  body: Uint8Array<ArrayBuffer> | string;
  type: string;
}

/** The body of a request of a kind: binary (protocol.js) or JSON. */
export function requestBody(shape: StepShape, kind: RequestKind, position: number, q: Float32Array, k: Float32Array, v: Float32Array, format: Format): Body {
  if (format === 'binary') return { body: encodeRequest(shape, kind, position, q, k, v), type: BINARY };
  const outputs = kind === 'step' ? {} : { outputs: kind === 'prefill-all' ? 'all' : 'last' };
  return { body: JSON.stringify({ position, q: Array.from(q), k: Array.from(k), v: Array.from(v), ...outputs }), type: JSON_TYPE };
}

/** The body of a step request. */
export function stepBody(shape: StepShape, position: number, q: Float32Array, k: Float32Array, v: Float32Array, format: Format): Body {
  return requestBody(shape, 'step', position, q, k, v, format);
}

/** POST /sessions/:id/step (or /prefill). A network failure (the server went away) rejects. */
export async function postStep(origin: string, id: string, body: Body, timeoutMs = 30_000, route: 'step' | 'prefill' = 'step'): Promise<StepAnswer> {
  const response = await fetch(`${origin}/sessions/${id}/${route}`, {
    method: 'POST', headers: { 'content-type': body.type }, body: body.body, signal: AbortSignal.timeout(timeoutMs),
  });
  return readAnswer(response);
}

/** POST /sessions/:id/prefill. */
export function postPrefill(origin: string, id: string, body: Body, timeoutMs = 30_000): Promise<StepAnswer> {
  return postStep(origin, id, body, timeoutMs, 'prefill');
}

/** The keep-alive connections of postBinary (destroy() closes them). */
export const httpAgent = new Agent({ keepAlive: true });

/**
 * POST of a binary request to /sessions/:id/<route> over node:http with keep-alive connections: the
 * bench's client, lighter than fetch (whose own cost per request would otherwise count in the figures).
 */
export function postBinary(origin: string, id: string, route: 'step' | 'prefill', bytes: Uint8Array, retry = true): Promise<StepAnswer> {
  const url = new URL(`${origin}/sessions/${id}/${route}`);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent: httpAgent, headers: { 'content-type': BINARY, 'content-length': bytes.length } }, (response) => {
      const parts: Buffer[] = [];
      response.on('data', (part: Buffer) => parts.push(part));
      response.on('error', reject);
      response.on('end', () => {
        const headers = Object.entries(response.headers).map(([key, value]) => [key, String(value)] as [string, string]);
        readAnswer(new Response(Buffer.concat(parts), { status: response.statusCode, headers })).then(resolve, reject);
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      // the server closed an idle kept-alive connection as it was reused: the same request again (a
      // retry is safe: at worst the stored answer of an applied request comes back)
      if (retry && req.reusedSocket && error.code === 'ECONNRESET') postBinary(origin, id, route, bytes, false).then(resolve, reject);
      else reject(error);
    });
    req.end(bytes);
  });
}

/** Reads an answer: binary or JSON outputs on 200, the error object otherwise. */
export async function readAnswer(response: Response): Promise<StepAnswer> {
  const status = response.status;
  const type = response.headers.get('content-type') ?? '';
  if (status === 200 && type.startsWith(BINARY)) return { status, ...decodeResult(new Uint8Array(await response.arrayBuffer())) };
  const json = await response.json() as { position?: number; outputs?: number[]; replayed?: boolean; error?: StepAnswer['error'] };
  if (status === 200) return { status, position: json.position, outputs: Float32Array.from(json.outputs ?? []), replayed: json.replayed };
  return { status, position: json.error?.position, error: json.error };
}

/** GET/PUT/DELETE /sessions/:id: the status and the JSON answer. */
export async function session(origin: string, id: string, method: 'GET' | 'PUT' | 'DELETE' = 'GET'): Promise<{ status: number; body: Record<string, any> }> {
  const response = await fetch(`${origin}/sessions/${id}`, { method, signal: AbortSignal.timeout(30_000) });
  return { status: response.status, body: await response.json() as Record<string, any> };
}

/** A session's WebSocket (GET /sessions/:id/socket): binary requests, answered in order. */
export class SessionSocket {
  private constructor(readonly socket: SocketClient) {}

  static async open(origin: string, id: string): Promise<SessionSocket> {
    return new SessionSocket(await SocketClient.connect(`${origin.replace(/^http/, 'ws')}/sessions/${id}/socket`));
  }

  /** Sends a binary request without waiting (answers come back in the order of the requests). */
  send(bytes: Uint8Array): void {
    this.socket.send(bytes);
  }

  /** The next answer: outputs, or { status, error } from a text frame. Rejects when the socket closes. */
  async answer(): Promise<StepAnswer> {
    const message = await this.socket.next();
    if (typeof message !== 'string') return { status: 200, ...decodeResult(message) };
    const json = JSON.parse(message) as { status: number; error: NonNullable<StepAnswer['error']> };
    return { status: json.status, position: json.error.position, error: json.error };
  }

  /** Sends a request and waits for its answer. */
  request(bytes: Uint8Array): Promise<StepAnswer> {
    this.send(bytes);
    return this.answer();
  }

  close(): void {
    this.socket.close();
  }
}
