// A small client of the edge decoder service (the test and the bench use it).
import { BINARY, decodeResult, encodeStep, JSON_TYPE, type StepShape } from './protocol.js';

export type Format = 'binary' | 'json';

export interface StepAnswer {
  status: number;
  /** The session's position after the request (on success), or its position as a 409 reports it. */
  position?: number;
  outputs?: Float32Array;
  replayed?: boolean;
  error?: { code: string; message: string; position?: number };
}

/** The body of a step request: binary (protocol.js) or JSON. */
export function stepBody(shape: StepShape, position: number, q: Float32Array, k: Float32Array, v: Float32Array, format: Format): { body: Uint8Array<ArrayBuffer> | string; type: string } {
  if (format === 'binary') return { body: encodeStep(shape, position, q, k, v), type: BINARY };
  return { body: JSON.stringify({ position, q: Array.from(q), k: Array.from(k), v: Array.from(v) }), type: JSON_TYPE };
}

/** POST /sessions/:id/step. A network failure (the server went away) rejects. */
export async function postStep(origin: string, id: string, body: { body: Uint8Array<ArrayBuffer> | string; type: string }, timeoutMs = 30_000): Promise<StepAnswer> {
  const response = await fetch(`${origin}/sessions/${id}/step`, {
    method: 'POST', headers: { 'content-type': body.type }, body: body.body, signal: AbortSignal.timeout(timeoutMs),
  });
  return readAnswer(response);
}

/** Reads a step answer: binary or JSON outputs on 200, the error object otherwise. */
export async function readAnswer(response: Response): Promise<StepAnswer> {
  const status = response.status;
  const type = response.headers.get('content-type') ?? '';
  if (status === 200 && type.startsWith(BINARY)) {
    const result = decodeResult(new Uint8Array(await response.arrayBuffer()));
    return { status, position: result.position, outputs: result.outputs, replayed: response.headers.get('x-replayed') === 'true' };
  }
  const json = await response.json() as { position?: number; outputs?: number[]; replayed?: boolean; error?: StepAnswer['error'] };
  if (status === 200) return { status, position: json.position, outputs: Float32Array.from(json.outputs ?? []), replayed: json.replayed };
  return { status, position: json.error?.position, error: json.error };
}

/** GET/PUT/DELETE /sessions/:id: the status and the JSON answer. */
export async function session(origin: string, id: string, method: 'GET' | 'PUT' | 'DELETE' = 'GET'): Promise<{ status: number; body: Record<string, any> }> {
  const response = await fetch(`${origin}/sessions/${id}`, { method, signal: AbortSignal.timeout(30_000) });
  return { status: response.status, body: await response.json() as Record<string, any> };
}
