// The edge decoder example (examples/edge-decoder/) under crashes: 32 concurrent sessions send steps and
// prefills (HTTP binary, HTTP JSON, WebSocket) while workerd is killed with SIGKILL at seeded moments
// (10 kills, each when the acknowledged tokens reach a seeded count) and restarted on the same storage.
// Clients retry as docs/edge.md says: a request without an answer is sent again, unchanged, once the
// service is back (over a new socket for WebSocket sessions). The verdict does not depend on timing:
//   - after each restart every session's stored position lies between its acknowledged position and
//     the end of its request in flight (nothing acknowledged is lost);
//   - at the end every session is at its last token and every answer it received equals Node's
//     FavorDecoder on the same requests, bit for bit (nothing applied twice, nothing skipped).
// The deployment snapshots every 12 tokens or 8 KiB of log, so the kills land on logs, on snapshots
// and on prefills larger than the log's budget. Locally a missing workerd is skipped with a note; in CI it fails.
import type { FavorAttention } from 'performer-wasm';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { postStep, requestBody, session, SessionSocket, type StepAnswer } from '../../examples/edge-decoder/client.ts';
import { startEdge, writeEdgeConfig, type DecoderConfig, type EdgeServer } from '../../examples/edge-decoder/launch.ts';
import { encodeRequest, type RequestKind } from '../../examples/edge-decoder/protocol.js';
import { uniform } from '../package/runtimes/smoke.js';
import { closeEdge, openEdge } from '../support/edge-server.ts';
import { rng } from '../support/data.ts';
import { firstDifference, nodeAnswers, type Planned } from '../support/edge-reference.ts';

const CONFIG = { dim: 16, heads: 4, valueDim: 16, features: 32, seed: 5, kernel: 'softmax' as const, snapshotTokens: 12, snapshotLogBytes: 8 * 1024 } satisfies DecoderConfig;
const SHAPE = { heads: CONFIG.heads, dim: CONFIG.dim, valueDim: CONFIG.valueDim };
const SESSIONS = 32;
const TOKENS = 64;
const KILLS = 10;
const PER_Q = CONFIG.heads * CONFIG.dim;
const PER_V = CONFIG.heads * CONFIG.valueDim;

type Transport = 'binary' | 'json' | 'socket';

interface Client {
  id: string;
  transport: Transport;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  plan: Planned[];
  expected: Float32Array[];
  answers: Float32Array[];
  next: number;
  acked: number;
  inFlight: number;
  socket?: SessionSocket;
  retries: number;
  replays: number;
}

/** A session's seeded requests: single steps, steps of 2–4 tokens, prefills of 2–16 tokens (last or all outputs). */
function planOf(seed: number): Planned[] {
  const u = rng(seed);
  const plan: Planned[] = [];
  for (let from = 0; from < TOKENS;) {
    const r = u();
    const kind: RequestKind = r < 0.65 ? 'step' : r < 0.85 ? 'prefill-last' : 'prefill-all';
    const size = r < 0.5 ? 1 : r < 0.65 ? 2 + Math.floor(3 * u()) : 2 + Math.floor(15 * u());
    const tokens = Math.min(size, TOKENS - from);
    plan.push({ kind, from, tokens });
    from += tokens;
  }
  return plan;
}

let attn: FavorAttention;
let dir = '';
let port = 0;
let server: EdgeServer | undefined;
let available = false;

test.before(async () => {
  const fixture = await openEdge('edge-chaos', CONFIG);
  if (!fixture) return;
  ({ attn, dir, port, server } = fixture);
  available = true;
});

test.after(() => closeEdge(server, dir));

function makeClient(index: number): Client {
  const q = uniform(TOKENS * PER_Q, 5000 + 3 * index, 0.75);
  const k = uniform(TOKENS * PER_Q, 5001 + 3 * index, 0.75);
  const v = uniform(TOKENS * PER_V, 5002 + 3 * index, 1);
  const plan = planOf(900 + index);
  return {
    id: `chaos-${index}`, transport: (['socket', 'json', 'binary', 'binary'] as const)[index % 4], q, k, v, plan,
    expected: nodeAnswers(attn, SHAPE, q, k, v, plan), answers: [], next: 0, acked: 0, inFlight: 0, retries: 0, replays: 0,
  };
}

/** Sends the client's next request (opening its socket first if it has none); rejects when the service is gone. */
async function send(c: Client, request: Planned): Promise<StepAnswer> {
  const { kind, from, tokens } = request;
  const slice = (x: Float32Array, per: number) => x.subarray(from * per, (from + tokens) * per);
  const [q, k, v] = [slice(c.q, PER_Q), slice(c.k, PER_Q), slice(c.v, PER_V)];
  if (c.transport === 'socket') {
    c.socket ??= await SessionSocket.open(server!.origin, c.id);
    return c.socket.request(encodeRequest(SHAPE, kind, from, q, k, v));
  }
  return postStep(server!.origin, c.id, requestBody(SHAPE, kind, from, q, k, v, c.transport), 30_000, kind === 'step' ? 'step' : 'prefill');
}

test(`${SESSIONS} sessions stepping and prefilling through ${KILLS} SIGKILLs: every acknowledged token applied once, bit-identical to Node`, async () => {
  if (!available) return;
  const t0 = Date.now();
  const clients = Array.from({ length: SESSIONS }, (_, i) => makeClient(i));
  for (const c of clients) assert.is((await session(server!.origin, c.id, 'PUT')).status, 201, `PUT ${c.id}`);
  const u = rng(20_261_117);
  const total = SESSIONS * TOKENS;
  const killAt = Array.from({ length: KILLS }, () => Math.floor(total * (0.05 + 0.85 * u()))).sort((a, b) => a - b);

  let acked = 0;
  let kills = 0;
  let restarting: Promise<void> | undefined;
  const restartTimes: number[] = [];

  const crashAndRestart = async () => {
    const inFlight = clients.filter((c) => c.inFlight > 0).length;
    await server!.stop('SIGKILL');
    const t1 = Date.now();
    server = await startEdge(writeEdgeConfig(dir, port, CONFIG), port);
    restartTimes.push(Date.now() - t1);
    for (const c of clients) {
      c.socket?.close();
      c.socket = undefined;
      const { status, body: info } = await session(server.origin, c.id);
      assert.is(status, 200, `${c.id} after kill ${kills}: ${JSON.stringify(info)}`);
      assert.ok(info.position >= c.acked && info.position <= c.acked + c.inFlight,
        `${c.id} after kill ${kills}: stored position ${info.position}, acknowledged ${c.acked}, in flight ${c.inFlight}`);
    }
    if (process.env.EDGE_CHAOS_VERBOSE) console.log(`    kill ${kills} at ${acked} acknowledged tokens, ${inFlight} requests in flight`);
  };

  const run = async (c: Client) => {
    while (c.next < c.plan.length) {
      await restarting;
      const request = c.plan[c.next]!;
      c.inFlight = request.tokens;
      let answer: StepAnswer;
      try {
        answer = await send(c, request);
      } catch (error) {
        // the service went away: the same request again once it is back
        assert.ok(kills > 0, `${c.id}: ${String(error)}\n${server!.output()}`);
        assert.ok(++c.retries <= 3 * KILLS, `${c.id}: too many retries`);
        c.socket = undefined;
        await restarting;
        continue;
      }
      assert.is(answer.status, 200, `${c.id} at ${request.from} (${request.kind} of ${request.tokens}): ${JSON.stringify(answer.error)}`);
      assert.is(answer.position, request.from + request.tokens, `${c.id}: the position after ${request.kind} at ${request.from}`);
      if (answer.replayed) c.replays++;
      c.answers[c.next++] = answer.outputs!;
      c.acked += request.tokens;
      c.inFlight = 0;
      acked += request.tokens;
      if (!restarting && kills < KILLS && acked >= killAt[kills]!) {
        kills++;
        restarting = crashAndRestart().finally(() => (restarting = undefined));
      }
    }
    c.socket?.close();
  };
  await Promise.all(clients.map(run));
  await restarting;
  assert.is(kills, KILLS, 'every seeded kill happened');

  for (const c of clients) {
    const { body: info } = await session(server!.origin, c.id);
    assert.is(info.position, TOKENS, `${c.id}: final position`);
    for (const [i, request] of c.plan.entries()) {
      const differing = firstDifference(c.answers[i]!, c.expected[i]!);
      assert.is(differing, -1, `${c.id} (${c.transport}): the answer to ${request.kind} of ${request.tokens} at ${request.from} differs from Node's at float ${differing}`);
    }
  }
  const retried = clients.reduce((s, c) => s + c.retries, 0);
  const replayed = clients.reduce((s, c) => s + c.replays, 0);
  const requests = clients.reduce((s, c) => s + c.plan.length, 0);
  console.log(`    ${SESSIONS} sessions × ${TOKENS} tokens (${requests} requests) through ${kills} kills in ${((Date.now() - t0) / 1000).toFixed(1)} s (restarts ${Math.min(...restartTimes)}–${Math.max(...restartTimes)} ms); ${retried} requests retried, ${replayed} answered again from storage`);
});

test.run();
