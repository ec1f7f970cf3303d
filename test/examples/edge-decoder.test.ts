// The edge decoder example (examples/edge-decoder/) in workerd, with its Durable Objects on local disk
// in a temporary folder:
//   1. 32 concurrent sessions × 128 tokens (single-token and 4-token requests, binary and JSON), every
//      output bit-identical to the same tokens stepped through FavorDecoder in Node (baseline build on
//      both sides);
//   2. in the middle of that run workerd is killed (SIGKILL) and restarted on the same storage; every
//      client retries its unanswered request: no acknowledged step is lost (each session's stored
//      position is between its acknowledged and its sent position) and none is applied twice (the final
//      outputs equal Node's); and a step whose answer is lost (dropped by the client, then SIGKILL) is
//      answered from the stored last response when retried after the restart, and applied once;
//      A state of two storage values (120 KiB each at most) is restored after a SIGKILL too, in the
//      mode that writes a snapshot at every request;
//   3. prefills (the last output or all, binary and JSON) and WebSocket steps (pipelined frames, errors
//      as text frames, a retry after a SIGKILL answered again) equal Node's answers bit for bit;
//   4. a catalogue of bad requests gets its status and code, and leaves the session untouched (its
//      position, and its next output still equals Node's); a stored session that fails its checks
//      (another configuration, a changed byte in a snapshot or in a log record on disk) is refused
//      with the reason, never reset or skipped.
// The deployment snapshots every 8 tokens, so sessions are restored from snapshots and logs.
// Locally a missing workerd is skipped with a note; in CI (CI=true) it fails.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FavorAttention, FavorDecoder } from 'performer-wasm';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { postPrefill, postStep, requestBody, session, SessionSocket, stepBody, type Format, type StepAnswer } from '../../examples/edge-decoder/client.ts';
import { startEdge, writeEdgeConfig, type DecoderConfig, type EdgeServer } from '../../examples/edge-decoder/launch.ts';
import { encodeRequest, encodeStep, fnv1aWords, PREFILL_ALL_MAGIC, REQUEST_MAGIC } from '../../examples/edge-decoder/protocol.js';
import { freePort } from '../package/runtimes/harness.ts';
import { uniform } from '../package/runtimes/smoke.js';
import { closeEdge, openEdge } from '../support/edge-server.ts';
import { bits, corruptOnDisk, nodeAnswers } from '../support/edge-reference.ts';

const CONFIG = { dim: 16, heads: 4, valueDim: 16, features: 32, seed: 7, kernel: 'softmax' as const, maxBodyBytes: 64 * 1024, snapshotTokens: 8 } satisfies DecoderConfig;
const SHAPE = { heads: CONFIG.heads, dim: CONFIG.dim, valueDim: CONFIG.valueDim };
const SESSIONS = 32;
const STEPS = 128;
const PER_Q = CONFIG.heads * CONFIG.dim;
const PER_V = CONFIG.heads * CONFIG.valueDim;

/** One client session: its tokens, Node's outputs for them, and what the service acknowledged. */
interface Client {
  id: string;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  expected: Float32Array;
  got: Float32Array;
  /** Tokens per request (1, or 4 for every fourth session) and the body format. */
  chunk: number;
  format: Format;
  acked: number;
  /** Tokens of the request in flight (sent, not answered). */
  inFlight: number;
  retries: number;
  replays: number;
}

let attn: FavorAttention;
let dir = '';
let port = 0;
let server: EdgeServer | undefined;
let available = false;

const tokens = (t: number, n: number, per: number) => [t * per, (t + n) * per] as const;

/** Node's outputs for a session's tokens, one step per token (the service also steps token by token). */
function nodeOutputs(decoder: FavorDecoder, q: Float32Array, k: Float32Array, v: Float32Array, count: number): Float32Array {
  const out = new Float32Array(count * PER_V);
  for (let t = 0; t < count; t++) {
    decoder.step(q.subarray(...tokens(t, 1, PER_Q)), k.subarray(...tokens(t, 1, PER_Q)), v.subarray(...tokens(t, 1, PER_V)), out.subarray(...tokens(t, 1, PER_V)));
  }
  return out;
}

function makeClient(index: number): Client {
  const q = uniform(STEPS * PER_Q, 1000 + 3 * index, 0.75);
  const k = uniform(STEPS * PER_Q, 1001 + 3 * index, 0.75);
  const v = uniform(STEPS * PER_V, 1002 + 3 * index, 1);
  const decoder = attn.decoder({ heads: CONFIG.heads, valueDim: CONFIG.valueDim });
  const expected = nodeOutputs(decoder, q, k, v, STEPS);
  decoder.dispose();
  return {
    id: `s${index}`, q, k, v, expected, got: new Float32Array(STEPS * PER_V),
    chunk: index % 4 === 3 ? 4 : 1, format: index % 8 === 5 ? 'json' : 'binary',
    acked: 0, inFlight: 0, retries: 0, replays: 0,
  };
}

function body(c: Client, position: number, n: number, format = c.format) {
  return stepBody(SHAPE, position, c.q.subarray(...tokens(position, n, PER_Q)), c.k.subarray(...tokens(position, n, PER_Q)),
    c.v.subarray(...tokens(position, n, PER_V)), format);
}

async function restart(config: DecoderConfig = CONFIG): Promise<void> {
  await server?.stop('SIGTERM');
  server = await startEdge(writeEdgeConfig(dir, port, config), port);
}

test.before(async () => {
  const fixture = await openEdge('edge-decoder', CONFIG);
  if (!fixture) return;
  ({ attn, dir, port, server } = fixture);
  available = true;
});

test.after(() => closeEdge(server, dir));

test('32 sessions × 128 tokens, SIGKILL and restart mid-run: bit-identical to Node, nothing lost or applied twice', async () => {
  if (!available) return;
  const t0 = Date.now();
  const clients = Array.from({ length: SESSIONS }, (_, i) => makeClient(i));
  for (const c of clients) assert.is((await session(server!.origin, c.id, 'PUT')).status, 201, `PUT ${c.id}`);

  // the gate: clients wait on it before every request; the kill closes it until the restart is checked
  let gate: Promise<void> = Promise.resolve();
  let totalAcked = 0;
  let killed = false;
  let killing: Promise<void> | undefined;
  const killAt = (SESSIONS * STEPS) / 2;

  const crashAndRestart = async () => {
    let open!: () => void;
    gate = new Promise((resolve) => (open = resolve));
    const inFlight = clients.filter((c) => c.inFlight > 0).length;
    assert.ok(inFlight > 0, 'requests are in flight when workerd is killed');
    await server!.stop('SIGKILL');
    server = await startEdge(writeEdgeConfig(dir, port, CONFIG), port);
    // no acknowledged step lost: every stored position is between the acknowledged and the sent one
    for (const c of clients) {
      const { status, body: info } = await session(server.origin, c.id);
      assert.is(status, 200, `${c.id} after the restart: ${JSON.stringify(info)}`);
      assert.ok(info.position >= c.acked && info.position <= c.acked + c.inFlight,
        `${c.id}: stored position ${info.position}, acknowledged ${c.acked}, in flight ${c.inFlight}`);
    }
    console.log(`    SIGKILL at ${totalAcked} acknowledged tokens, ${inFlight} requests in flight; restarted in ${Date.now() - t1} ms`);
    open();
  };
  let t1 = 0;

  const run = async (c: Client) => {
    while (c.acked < STEPS) {
      await gate;
      const n = Math.min(c.chunk, STEPS - c.acked);
      c.inFlight = n;
      let answer: StepAnswer;
      try {
        answer = await postStep(server!.origin, c.id, body(c, c.acked, n));
      } catch (error) {
        // the server went away: retry the same request (same position, same tokens) once it is back
        assert.ok(killed, `${c.id}: ${String(error)}\n${server!.output()}`);
        assert.ok(++c.retries <= 5, `${c.id}: too many retries`);
        await killing;
        continue;
      }
      assert.is(answer.status, 200, `${c.id} at ${c.acked}: ${JSON.stringify(answer.error)}`);
      assert.is(answer.position, c.acked + n);
      c.got.set(answer.outputs!, c.acked * PER_V);
      if (answer.replayed) c.replays++;
      c.acked += n;
      c.inFlight = 0;
      totalAcked += n;
      if (!killed && totalAcked >= killAt) {
        killed = true;
        t1 = Date.now();
        killing = crashAndRestart();
      }
    }
  };
  await Promise.all(clients.map(run));
  await killing;
  assert.ok(killed, 'the run was killed once');

  for (const c of clients) {
    const differing = bits(c.got).findIndex((x, i) => x !== bits(c.expected)[i]);
    assert.is(differing, -1, `${c.id}: output float ${differing} (token ${Math.floor(differing / PER_V)}) differs from Node's`);
    const { body: info } = await session(server!.origin, c.id);
    assert.is(info.position, STEPS, `${c.id} final position`);
  }
  const retried = clients.reduce((s, c) => s + c.retries, 0);
  const replayed = clients.reduce((s, c) => s + c.replays, 0);
  console.log(`    ${SESSIONS} sessions × ${STEPS} tokens in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${retried} retried requests after the kill, ${replayed} of them answered from the stored last response`);
});

/** A session with `count` tokens applied, and Node's decoder at the same point. */
async function sessionAt(id: string, count: number, index: number) {
  const c = makeClient(index);
  c.id = id;
  assert.is((await session(server!.origin, id, 'PUT')).status, 201);
  const answer = await postStep(server!.origin, id, body(c, 0, count, 'binary'));
  assert.is(answer.status, 200, JSON.stringify(answer.error));
  return c;
}

async function raw(path: string, init: RequestInit): Promise<{ status: number; code?: string; message?: string }> {
  const response = await fetch(`${server!.origin}${path}`, init);
  const json = await response.json().catch(() => ({})) as { error?: { code: string; message: string } };
  return { status: response.status, code: json.error?.code, message: json.error?.message };
}

const binary = (bytes: Uint8Array<ArrayBuffer>): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
const jsonPost = (text: string): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: text });

test('an answer lost in a crash: the retry after the restart gets the stored answer, applied once', async () => {
  if (!available) return;
  const c = await sessionAt('lost-answer', 3, 103);
  // the step is applied and stored, but its answer never reaches the client (dropped here), then the server dies
  assert.is((await postStep(server!.origin, c.id, body(c, 3, 2, 'binary'))).status, 200);
  await server!.stop('SIGKILL');
  server = await startEdge(writeEdgeConfig(dir, port, CONFIG), port);
  const retry = await postStep(server.origin, c.id, body(c, 3, 2, 'json')); // the same tokens, in the other format
  assert.is(retry.status, 200, JSON.stringify(retry.error));
  assert.ok(retry.replayed, 'answered from the stored last response');
  assert.is(retry.position, 5);
  assert.equal(bits(retry.outputs!), bits(c.expected.subarray(3 * PER_V, 5 * PER_V)));
  const next = await postStep(server.origin, c.id, body(c, 5, 1, 'binary'));
  assert.equal(bits(next.outputs!), bits(c.expected.subarray(5 * PER_V, 6 * PER_V)), 'applied once: the next token continues');
});

test('a snapshot at every request (snapshotTokens 1), of several storage values (valueDim 128: 132 KB), survives SIGKILL and continues bit for bit', async () => {
  if (!available) return;
  const wide = { ...CONFIG, valueDim: 128, snapshotTokens: 1 };
  const wideShape = { ...SHAPE, valueDim: 128 };
  const perV = CONFIG.heads * wide.valueDim;
  const wideDir = mkdtempSync(join(tmpdir(), 'edge-decoder-wide-'));
  const widePort = await freePort();
  let wideServer = await startEdge(writeEdgeConfig(wideDir, widePort, wide), widePort);
  try {
    const [q, k, v] = [uniform(6 * PER_Q, 7001, 0.75), uniform(6 * PER_Q, 7002, 0.75), uniform(6 * perV, 7003, 1)];
    const decoder = attn.decoder({ heads: CONFIG.heads, valueDim: wide.valueDim });
    const expected = new Float32Array(6 * perV);
    for (let t = 0; t < 6; t++) decoder.step(q.subarray(t * PER_Q, (t + 1) * PER_Q), k.subarray(t * PER_Q, (t + 1) * PER_Q), v.subarray(t * perV, (t + 1) * perV), expected.subarray(t * perV, (t + 1) * perV));
    decoder.dispose();
    const send = (origin: string, from: number, n: number) => postStep(origin, 'wide', stepBody(wideShape, from, q.subarray(from * PER_Q, (from + n) * PER_Q),
      k.subarray(from * PER_Q, (from + n) * PER_Q), v.subarray(from * perV, (from + n) * perV), 'binary'));
    assert.is((await session(wideServer.origin, 'wide', 'PUT')).status, 201);
    const first = await send(wideServer.origin, 0, 3);
    assert.is(first.status, 200, JSON.stringify(first.error));
    await wideServer.stop('SIGKILL');
    wideServer = await startEdge(writeEdgeConfig(wideDir, widePort, wide), widePort);
    const info = (await session(wideServer.origin, 'wide')).body;
    assert.is(info.stateChunks, 2, `state of ${info.stateBytes} bytes`);
    assert.equal([info.position, info.snapshotPosition, info.logRecords], [3, 3, 0]);
    const rest = await send(wideServer.origin, 3, 3);
    assert.is(rest.status, 200, JSON.stringify(rest.error));
    assert.equal(bits(first.outputs!), bits(expected.subarray(0, 3 * perV)));
    assert.equal(bits(rest.outputs!), bits(expected.subarray(3 * perV)));
  } finally {
    await wideServer.stop('SIGTERM');
    rmSync(wideDir, { recursive: true, force: true });
  }
});

test("prefill (the last output or all, binary and JSON) and WebSocket steps: Node's answers bit for bit; retries answered again, also after SIGKILL", async () => {
  if (!available) return;
  const c = makeClient(105);
  c.id = 'prompted';
  const plan = [
    { kind: 'prefill-all', from: 0, tokens: 20 }, { kind: 'prefill-last', from: 20, tokens: 10 }, // HTTP: binary, then JSON
    { kind: 'step', from: 30, tokens: 1 }, { kind: 'step', from: 31, tokens: 2 }, { kind: 'prefill-last', from: 33, tokens: 5 }, { kind: 'step', from: 38, tokens: 1 }, // one socket, pipelined
    { kind: 'step', from: 39, tokens: 1 }, // after a SIGKILL, on a new socket
  ] as const;
  const expected = nodeAnswers(attn, SHAPE, c.q, c.k, c.v, [...plan]);
  const frame = (i: number) => {
    const { kind, from, tokens: n } = plan[i]!;
    return encodeRequest(SHAPE, kind, from, c.q.subarray(...tokens(from, n, PER_Q)), c.k.subarray(...tokens(from, n, PER_Q)), c.v.subarray(...tokens(from, n, PER_V)));
  };
  const http = (i: number, format: Format) => {
    const { kind, from, tokens: n } = plan[i]!;
    return postPrefill(server!.origin, c.id, requestBody(SHAPE, kind, from, c.q.subarray(...tokens(from, n, PER_Q)), c.k.subarray(...tokens(from, n, PER_Q)), c.v.subarray(...tokens(from, n, PER_V)), format));
  };
  const same = (answer: StepAnswer, i: number, what: string) => {
    assert.is(answer.status, 200, `${what}: ${JSON.stringify(answer.error)}`);
    assert.is(answer.position, plan[i]!.from + plan[i]!.tokens, `${what}: position`);
    assert.equal(bits(answer.outputs!), bits(expected[i]!), `${what}: Node's bits`);
  };
  assert.is((await session(server!.origin, c.id, 'PUT')).status, 201);
  const all = await http(0, 'binary');
  same(all, 0, 'prefill of 20, every output');
  // the layout: the parallel pass agrees with stepping the same tokens (float32 rounding apart; 1e-4 relative to the largest output)
  const stepped = c.expected.subarray(0, 20 * PER_V);
  const scale = stepped.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  const worst = all.outputs!.reduce((m, x, i) => Math.max(m, Math.abs(x - stepped[i]!)), 0);
  assert.ok(worst <= 1e-4 * scale, `prefill vs steps: ${worst} > 1e-4 · ${scale}`);
  same(await http(1, 'json'), 1, 'JSON prefill of 10, the last output');
  const again = await http(1, 'binary');
  same(again, 1, 'the prefill retried (binary)');
  assert.ok(again.replayed, 'answered again, not applied twice');

  // one socket: four requests sent at once, answered in order; a wrong position is an error frame; a retry is answered again
  let socket = await SessionSocket.open(server!.origin, c.id);
  for (const i of [2, 3, 4, 5]) socket.send(frame(i));
  for (const i of [2, 3, 4, 5]) same(await socket.answer(), i, `socket request ${i}`);
  const ahead = await socket.request(frame(6).slice().fill(0, 8, 16)); // position 0: already applied
  assert.equal([ahead.status, ahead.error?.code, ahead.position], [409, 'ALREADY_APPLIED', 39]);
  const bad = await socket.request(new Uint8Array(16));
  assert.equal([bad.status, bad.error?.code], [400, 'BAD_REQUEST']);
  const retried = await socket.request(frame(5));
  same(retried, 5, 'the last request retried on the socket');
  assert.ok(retried.replayed);

  // SIGKILL with the socket open: the client reconnects, retries its last request, and continues
  await server!.stop('SIGKILL');
  await socket.answer().then(() => assert.unreachable('the socket survived the kill'), () => {});
  server = await startEdge(writeEdgeConfig(dir, port, CONFIG), port);
  socket = await SessionSocket.open(server.origin, c.id);
  const afterKill = await socket.request(frame(5));
  same(afterKill, 5, 'the last request retried after the restart');
  assert.ok(afterKill.replayed);
  same(await socket.request(frame(6)), 6, 'the next step after the restart');
  socket.close();
  const info = (await session(server.origin, c.id)).body;
  assert.equal([info.position, info.snapshotPosition, info.logRecords], [40, 38, 2], 'a snapshot when the log reached 8 tokens, then two records');
});

test('bad requests: status and code; the session is untouched and continues bit for bit', async () => {
  if (!available) return;
  const id = 'catalogue';
  const c = await sessionAt(id, 5, 100);
  const at = 5;
  const one = (position = at) => encodeStep(SHAPE, position, c.q.subarray(...tokens(position, 1, PER_Q)), c.k.subarray(...tokens(position, 1, PER_Q)), c.v.subarray(...tokens(position, 1, PER_V)));
  const withFloat = (bytes: Uint8Array, index: number, value: number) => {
    const copy = bytes.slice();
    new DataView(copy.buffer).setFloat32(16 + 4 * index, value, true);
    return copy;
  };
  const three = encodeStep(SHAPE, at, c.q.subarray(...tokens(at, 3, PER_Q)), c.k.subarray(...tokens(at, 3, PER_Q)), c.v.subarray(...tokens(at, 3, PER_V)));
  const header = (magic: number, count: number, position: number) => {
    const bytes = new Uint8Array(16);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, magic, true);
    view.setUint32(4, count, true);
    view.setFloat64(8, position, true);
    return bytes;
  };
  const badMagic = one().slice();
  new DataView(badMagic.buffer).setUint32(0, 0x12345678, true);
  const goodJson = JSON.parse(body(c, at, 1, 'json').body as string) as Record<string, unknown>;
  const jsonWith = (patch: Record<string, unknown>) => JSON.stringify({ ...goodJson, ...patch });
  const step = `/sessions/${id}/step`;
  const prefill = `/sessions/${id}/prefill`;
  const prompt = (kind: 'prefill-last' | 'prefill-all', position = at) => encodeRequest(SHAPE, kind, position, c.q.subarray(...tokens(at, 3, PER_Q)), c.k.subarray(...tokens(at, 3, PER_Q)), c.v.subarray(...tokens(at, 3, PER_V)));

  const catalogue: Array<[string, string, RequestInit, number, string]> = [
    ['a float missing', step, binary(one().subarray(0, one().length - 4)), 400, 'INVALID_LENGTH'],
    ['a float too many', step, binary(new Uint8Array([...one(), 0, 0, 0, 0])), 400, 'INVALID_LENGTH'],
    ['a truncated header', step, binary(one().subarray(0, 8)), 400, 'INVALID_LENGTH'],
    ['no magic', step, binary(badMagic), 400, 'BAD_REQUEST'],
    ['zero tokens', step, binary(header(REQUEST_MAGIC, 0, at)), 400, 'INVALID_SIZE'],
    ['too many tokens', step, binary(header(REQUEST_MAGIC, 1e6, at)), 413, 'TOO_MANY_TOKENS'],
    ['a fractional position', step, binary(header(REQUEST_MAGIC, 1, 2.5)), 400, 'INVALID_SIZE'],
    ['NaN in q', step, binary(withFloat(one(), 3, NaN)), 400, 'NON_FINITE'],
    ['Infinity in the last token of three (two applied, then rolled back)', step, binary(withFloat(three, 2 * 3 * PER_Q + 2 * PER_V + 1, Infinity)), 400, 'NON_FINITE'],
    ['JSON 1e999 in k', step, jsonPost(jsonWith({ k: (goodJson.k as number[]).slice(1) }).replace('"k":[', '"k":[1e999,')), 400, 'NON_FINITE'],
    ['JSON: a string in v', step, jsonPost(jsonWith({ v: ['1', ...(goodJson.v as number[]).slice(1)] })), 400, 'INVALID_TYPE'],
    ['JSON: k one number short', step, jsonPost(jsonWith({ k: (goodJson.k as number[]).slice(1) })), 400, 'INVALID_LENGTH'],
    ['JSON: an unknown field', step, jsonPost(jsonWith({ tokens: 1 })), 400, 'UNKNOWN_OPTION'],
    ['JSON: a negative position', step, jsonPost(jsonWith({ position: -1 })), 400, 'INVALID_SIZE'],
    ['JSON: not JSON', step, jsonPost('{"position": 5,'), 400, 'BAD_REQUEST'],
    ['a text/plain body', step, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['a body over maxBodyBytes', step, binary(new Uint8Array(CONFIG.maxBodyBytes + 16)), 413, 'BODY_TOO_LARGE'],
    ['a position ahead of the session', step, binary(one(at + 1)), 409, 'POSITION_MISMATCH'],
    ['an applied position that is not the last request', step, binary(one(2)), 409, 'ALREADY_APPLIED'],
    ['the last request\'s position with other tokens', step, binary(one(0)), 409, 'ALREADY_APPLIED'],
    ['GET on /step', step, { method: 'GET' }, 405, 'METHOD_NOT_ALLOWED'],
    ['PATCH on the session', `/sessions/${id}`, { method: 'PATCH' }, 405, 'METHOD_NOT_ALLOWED'],
    ['a step of an unknown session', '/sessions/nobody/step', binary(one(0)), 404, 'NOT_FOUND'],
    ['GET of an unknown session', '/sessions/nobody', { method: 'GET' }, 404, 'NOT_FOUND'],
    ['DELETE of an unknown session', '/sessions/nobody', { method: 'DELETE' }, 404, 'NOT_FOUND'],
    ['an id with a slash', '/sessions/a/b/step', binary(one(0)), 404, 'NOT_FOUND'],
    ['a step on /prefill', prefill, binary(one()), 400, 'BAD_REQUEST'],
    ['a prefill on /step', step, binary(prompt('prefill-all')), 400, 'BAD_REQUEST'],
    ['a prefill with NaN in v', prefill, binary(withFloat(prompt('prefill-last'), 3 * 2 * PER_Q + 5, NaN)), 400, 'NON_FINITE'],
    ['a prefill of too many tokens', prefill, binary(header(PREFILL_ALL_MAGIC, 1e6, at)), 413, 'TOO_MANY_TOKENS'],
    ['a prefill ahead of the session', prefill, binary(prompt('prefill-all', at + 2)), 409, 'POSITION_MISMATCH'],
    ['JSON prefill: outputs "some"', prefill, jsonPost(jsonWith({ outputs: 'some' })), 400, 'UNKNOWN_OPTION'],
    ['JSON step: an outputs field', step, jsonPost(jsonWith({ outputs: 'all' })), 400, 'UNKNOWN_OPTION'],
    ['GET on /prefill', prefill, { method: 'GET' }, 405, 'METHOD_NOT_ALLOWED'],
    ['GET on /socket without Upgrade', `/sessions/${id}/socket`, { method: 'GET' }, 426, 'UPGRADE_REQUIRED'],
    ['POST on /socket', `/sessions/${id}/socket`, binary(one()), 405, 'METHOD_NOT_ALLOWED'],
  ];
  for (const [what, path, request, status, code] of catalogue) {
    const answer = await raw(path, request);
    assert.is(answer.status, status, `${what}: ${answer.code} ${answer.message}`);
    assert.is(answer.code, code, `${what}: ${answer.message}`);
    assert.is((await session(server!.origin, id)).body.position, at, `${what}: the position moved`);
  }
  assert.is((await session(server!.origin, 'nobody')).status, 404, 'the unknown session was not created');

  // the retry of the last request (tokens 0–4) gets its stored answer
  const replay = await postStep(server!.origin, id, body(c, 0, 5, 'binary'));
  assert.is(replay.status, 200);
  assert.ok(replay.replayed);
  assert.equal(bits(replay.outputs!), bits(c.expected.subarray(0, 5 * PER_V)));
  // untouched: the next three tokens give Node's outputs
  const next = await postStep(server!.origin, id, body(c, at, 3, 'binary'));
  assert.is(next.status, 200, JSON.stringify(next.error));
  assert.equal(bits(next.outputs!), bits(c.expected.subarray(at * PER_V, (at + 3) * PER_V)));
  console.log(`    ${catalogue.length} bad requests refused with their codes; the session continued bit for bit`);
});

test('a stored session that fails its checks is refused with the reason, never reset or skipped', async () => {
  if (!available) return;
  const keep = await sessionAt('kept', 3, 101);
  const broken = await sessionAt('broken', 9, 102); // 9 tokens ≥ snapshotTokens: a snapshot at 9
  const torn = await sessionAt('torn', 3, 104); // a log record of tokens 0–2 after the snapshot at 0
  const tornNext = await postStep(server!.origin, torn.id, body(torn, 3, 1, 'binary')); // and one of token 3
  assert.is(tornNext.status, 200);
  const describe = async (id: string) => (await session(server!.origin, id)).body;
  assert.equal([(await describe(broken.id)).snapshotPosition, (await describe(broken.id)).logRecords], [9, 0]);
  assert.equal([(await describe(torn.id)).snapshotPosition, (await describe(torn.id)).logRecords], [0, 2]);

  // another deployment configuration: 409 with both fingerprints; the original one loads it again
  await restart({ ...CONFIG, seed: CONFIG.seed + 1 });
  const mismatch = await session(server!.origin, keep.id);
  assert.is(mismatch.status, 409);
  assert.is(mismatch.body.error.code, 'CONFIG_MISMATCH');
  assert.match(mismatch.body.error.message, /"seed":7.*"seed":8/);
  await restart();
  assert.is((await session(server!.origin, keep.id)).body.position, 3, 'the session survived the other configuration');

  // one changed byte in a snapshot: the state's header at position 9 (only 'broken' has it), its third byte of dim
  const decoder = attn.decoder({ heads: CONFIG.heads, valueDim: CONFIG.valueDim });
  nodeOutputs(decoder, broken.q, broken.k, broken.v, 9);
  const stateHeader = decoder.saveState().slice(0, 48);
  decoder.dispose();
  // one changed byte in a log record: the record of tokens 0–2 of 'torn', found by its header (magic
  // "PWLG", kind 0, position 0, 3 tokens, the digest of its answer), changed in its first q float
  const recordHeader = new Uint8Array(24);
  const view = new DataView(recordHeader.buffer);
  view.setUint32(0, 0x474c5750, true);
  view.setUint32(16, 3, true);
  view.setUint32(20, fnv1aWords(torn.expected.subarray(0, 3 * PER_V)), true);
  await server!.stop('SIGTERM');
  assert.ok(corruptOnDisk(join(dir, 'storage'), stateHeader, 10) > 0, 'the snapshot was found on disk');
  assert.ok(corruptOnDisk(join(dir, 'storage'), recordHeader, 33) > 0, 'the log record was found on disk');
  server = await startEdge(writeEdgeConfig(dir, port, CONFIG), port);

  // 500 with a code and the reason, on every route but DELETE
  for (const [c, code, reason, at] of [[broken, 'INVALID_STATE', /snapshot does not load.*checksum mismatch/, 9], [torn, 'INVALID_LOG', /log record at position 0 fails its checksum/, 4]] as const) {
    for (const answer of [await session(server.origin, c.id), await session(server.origin, c.id, 'PUT')]) {
      assert.is(answer.status, 500, `${c.id}: ${JSON.stringify(answer.body)}`);
      assert.is(answer.body.error.code, code);
      assert.match(answer.body.error.message, reason);
    }
    const stepped = await postStep(server.origin, c.id, body(c, at, 1));
    assert.is(stepped.status, 500);
    assert.is(stepped.error!.code, code);
    const socket = await SessionSocket.open(server.origin, c.id).catch((error: { status?: number; body?: string }) => error);
    assert.ok(!(socket instanceof SessionSocket), 'no socket opens on a session that does not load');
    assert.is((socket as { status?: number }).status, 500);
    assert.match((socket as { body: string }).body, code);
  }
  assert.is((await session(server.origin, keep.id)).body.position, 3, 'the other sessions load');
  // DELETE is the explicit way out
  for (const c of [broken, torn]) {
    assert.is((await session(server.origin, c.id, 'DELETE')).status, 200);
    assert.is((await session(server.origin, c.id)).status, 404);
    assert.is((await session(server.origin, c.id, 'PUT')).status, 201);
  }
});

test.run();
