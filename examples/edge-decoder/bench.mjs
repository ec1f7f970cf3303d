// Bench of the edge decoder example in workerd (on-disk Durable Objects in a temporary folder), two
// deployments side by side in one run: "snapshot" (snapshotTokens 1: the decoder state written at every
// request) and "log" (the default: a log record per request, a snapshot every snapshotTokens tokens).
// Not a test: run it with
//   npm run bench:edge -- [--dim 64] [--heads 8] [--features 128] [--steps 64] [--runs 3] [--sessions 1,8,32]
//                         [--prompt 1024] [--replay 1000]
// Rows: closed-loop clients (each session sends single-token binary steps, over HTTP (node:http,
// keep-alive) or one WebSocket)
// with 1, 8 and 32 concurrent sessions: steps/s, p50/p99 latency, bytes written per token (the runs of
// each row interleaved with the other rows', medians over the runs); the bytes per token over a long
// session; a prompt in one prefill request against the same tokens as single steps, over HTTP and a WebSocket; the first
// request after a restart (SIGKILL) of a session of `replay` steps (its log replayed) against one with a snapshot.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FavorAttention, init } from 'performer-wasm';
import { freePort } from '../../test/package/runtimes/harness.ts';
import { uniform } from '../../test/package/runtimes/smoke.js';
import { httpAgent, postBinary, session, SessionSocket } from './client.ts';
import { startEdge, writeEdgeConfig } from './launch.ts';
import { encodeRequest, encodeStep } from './protocol.js';

const { values: args } = parseArgs({
  options: {
    dim: { type: 'string', default: '64' },
    heads: { type: 'string', default: '8' },
    features: { type: 'string', default: '128' },
    kernel: { type: 'string', default: 'softmax' },
    steps: { type: 'string', default: '64' },
    runs: { type: 'string', default: '3' },
    sessions: { type: 'string', default: '1,8,32' },
    prompt: { type: 'string', default: '1024' },
    replay: { type: 'string', default: '1000' },
  },
});
const base = { dim: +args.dim, heads: +args.heads, valueDim: +args.dim, features: +args.features, seed: 1, kernel: args.kernel, maxBodyBytes: 64 * 1024 * 1024 };
const shape = { heads: base.heads, dim: base.dim, valueDim: base.valueDim };
const per = base.heads * base.dim;
const steps = +args.steps;
const runs = +args.runs;
const counts = args.sessions.split(',').map(Number);
const promptTokens = +args.prompt;
const replayTokens = +args.replay;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const quantile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
/** Seeded tokens t0 … t0 + n of a session (token-major q, k, v). */
const tokens = (seed, n) => [uniform(n * per, 3 * seed + 1, 0.75), uniform(n * per, 3 * seed + 2, 0.75), uniform(n * per, 3 * seed + 3, 1)];
const slice = (x, t, n) => x.subarray(t * per, (t + n) * per);

async function created(origin, id) {
  const answer = await session(origin, id, 'PUT');
  if (answer.status !== 201) throw new Error(`PUT ${id}: ${JSON.stringify(answer.body)}`);
  return answer.body.writtenBytes;
}

async function written(origin, id) {
  return (await session(origin, id)).body.writtenBytes;
}

/** `count` single-token binary steps of session `id` from position `from`, over HTTP or a WebSocket; returns the latencies. */
async function stepLoop(origin, id, seed, count, transport, from = 0) {
  const [q, k, v] = tokens(seed, from + count);
  const latencies = [];
  const socket = transport === 'ws' ? await SessionSocket.open(origin, id) : undefined;
  try {
    for (let t = from; t < from + count; t++) {
      const start = performance.now();
      const answer = socket
        ? await socket.request(encodeStep(shape, t, slice(q, t, 1), slice(k, t, 1), slice(v, t, 1)))
        : await postBinary(origin, id, 'step', encodeStep(shape, t, slice(q, t, 1), slice(k, t, 1), slice(v, t, 1)));
      latencies.push(performance.now() - start);
      if (answer.status !== 200) throw new Error(`${id} at ${t}: ${JSON.stringify(answer.error)}`);
    }
  } finally {
    socket?.close();
  }
  return latencies;
}

/** One run of a row: `n` fresh sessions, each `steps` single-token steps in a closed loop, all concurrent. */
async function run(origin, n, transport, tag) {
  const ids = Array.from({ length: n }, (_, i) => `${tag}-${i}`);
  const before = await Promise.all(ids.map((id) => created(origin, id)));
  const t0 = performance.now();
  const latencies = (await Promise.all(ids.map((id, i) => stepLoop(origin, id, i, steps, transport)))).flat();
  const seconds = (performance.now() - t0) / 1000;
  const after = await Promise.all(ids.map((id) => written(origin, id)));
  latencies.sort((a, b) => a - b);
  const bytes = after.reduce((s, x, i) => s + x - before[i], 0) / (n * steps);
  return { stepsPerSecond: (n * steps) / seconds, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), bytes };
}

/** A prompt of `promptTokens` tokens through /prefill or one WebSocket frame (answer: the last output); returns ms. */
async function prefillOnce(origin, id, transport) {
  await created(origin, id);
  const [q, k, v] = tokens(7, promptTokens);
  const body = encodeRequest(shape, 'prefill-last', 0, q, k, v);
  const socket = transport === 'ws' ? await SessionSocket.open(origin, id) : undefined;
  try {
    const t0 = performance.now();
    const answer = socket ? await socket.request(body) : await postBinary(origin, id, 'prefill', body);
    const ms = performance.now() - t0;
    if (answer.status !== 200) throw new Error(`prefill: ${JSON.stringify(answer.error)}`);
    return ms;
  } finally {
    socket?.close();
  }
}

/** Median µs of FavorDecoder.step, and ms of one prefill of the prompt, in Node (baseline build). */
function nodeCompute() {
  const attn = new FavorAttention({ dim: base.dim, features: base.features, kernel: base.kernel, seed: base.seed, causal: true });
  const [q, k, v] = tokens(1, Math.max(200, promptTokens));
  const stepTimes = [];
  const prefillTimes = [];
  for (let r = 0; r < 5; r++) {
    const decoder = attn.decoder({ heads: base.heads, valueDim: base.valueDim });
    let t0 = performance.now();
    for (let i = 0; i < 200; i++) decoder.step(slice(q, i, 1), slice(k, i, 1), slice(v, i, 1));
    stepTimes.push(((performance.now() - t0) / 200) * 1000);
    decoder.reset();
    t0 = performance.now();
    decoder.prefill(slice(q, 0, promptTokens), slice(k, 0, promptTokens), slice(v, 0, promptTokens), promptTokens); // (timing only: any layout)
    prefillTimes.push(performance.now() - t0);
    decoder.dispose();
  }
  return { step: median(stepTimes), prefill: median(prefillTimes) };
}

const pad = (x, n) => String(x).padStart(n);
await init(undefined, { relaxedSimd: false });
const dir = mkdtempSync(join(tmpdir(), 'edge-bench-'));
const deployments = {};
try {
  for (const [mode, extra] of [['snapshot', { snapshotTokens: 1 }], ['log', {}]]) {
    const port = await freePort();
    const config = writeEdgeConfig(join(dir, mode), port, { ...base, ...extra });
    deployments[mode] = { port, config, server: await startEdge(config, port) };
  }
  const origin = (mode) => deployments[mode].server.origin;
  const info = (await (await fetch(`${origin('log')}/`)).json()).config;
  const compute = nodeCompute();
  console.log(`edge decoder in workerd: dim ${base.dim}, heads ${base.heads}, valueDim ${base.valueDim}, features ${base.features}, kernel ${base.kernel}; log mode snapshots every ${info.snapshotTokens} tokens or ${info.snapshotLogBytes} bytes of log`);
  console.log(`one token's inputs: ${4 * per * 3} bytes; in Node (same shape): FavorDecoder.step ${compute.step.toFixed(1)} µs, prefill of ${promptTokens} tokens ${compute.prefill.toFixed(1)} ms`);
  console.log(`\n${steps} single-token steps per session, median of ${runs} interleaved runs`);
  console.log('mode      transport  sessions  steps/s   p50 ms   p99 ms  bytes written/token');
  const rows = [['snapshot', 'http'], ['log', 'http'], ['log', 'ws']];
  for (const n of counts) {
    const results = rows.map(() => []);
    for (let r = 0; r < runs; r++) {
      for (const [i, [mode, transport]] of rows.entries()) results[i].push(await run(origin(mode), n, transport, `${transport}-n${n}-r${r}`));
    }
    for (const [i, [mode, transport]] of rows.entries()) {
      const pick = (key) => median(results[i].map((x) => x[key]));
      console.log(`${mode.padEnd(8)}  ${transport.padEnd(9)}  ${pad(n, 8)}  ${pad(pick('stepsPerSecond').toFixed(0), 7)}  ${pad(pick('p50').toFixed(2), 7)}  ${pad(pick('p99').toFixed(2), 7)}  ${pad(pick('bytes').toFixed(0), 19)}`);
    }
  }

  // a long session: bytes per token with its snapshots, and the time of the prompt as single steps, against
  // the same prompt in one prefill request (three a run: they are short), over HTTP and over a WebSocket
  const long = { http: [], ws: [] };
  const prefill = { http: [], ws: [] };
  for (let r = 0; r < runs; r++) {
    for (const transport of ['http', 'ws']) {
      const id = `long-${transport}-r${r}`;
      const before = await created(origin('log'), id);
      const t0 = performance.now();
      await stepLoop(origin('log'), id, 7, promptTokens, transport);
      long[transport].push({ ms: performance.now() - t0, bytes: ((await written(origin('log'), id)) - before) / promptTokens });
      for (let i = 0; i < 3; i++) prefill[transport].push(await prefillOnce(origin('log'), `prefill-${transport}-r${r}-${i}`, transport));
    }
  }
  console.log(`\nlog mode, one session of ${promptTokens} single steps over HTTP: ${median(long.http.map((x) => x.bytes)).toFixed(0)} bytes written per token (snapshots included)`);
  console.log(`transport  ${promptTokens} single steps ms  one prefill ms (answer: the last output; median of ${prefill.http.length})  faster`);
  for (const transport of ['http', 'ws']) {
    const stepsMs = median(long[transport].map((x) => x.ms));
    const prefillMs = median(prefill[transport]);
    console.log(`${transport.padEnd(9)}  ${pad(stepsMs.toFixed(0), 20)}  ${pad(prefillMs.toFixed(1), 55)}  ${pad((stepsMs / prefillMs).toFixed(1), 5)}×`);
  }

  // restart: a session of `replayTokens` steps (the log after its last snapshot replayed), against one whose snapshot covers all
  await created(origin('log'), 'replayed');
  await stepLoop(origin('log'), 'replayed', 9, replayTokens, 'http');
  const logged = (await session(origin('log'), 'replayed')).body;
  const restarts = { replayed: [], snapshot: [] };
  for (let r = 0; r < runs; r++) {
    const d = deployments.log;
    await d.server.stop('SIGKILL');
    d.server = await startEdge(d.config, d.port);
    await session(d.server.origin, 'n1-warm'); // the isolate's start (wasm compile) is not a session's
    for (const [key, id] of [['snapshot', 'long-http-r0'], ['replayed', 'replayed']]) {
      const t0 = performance.now();
      const answer = await session(d.server.origin, id);
      restarts[key].push(performance.now() - t0);
      if (answer.status !== 200) throw new Error(`${id} after the restart: ${JSON.stringify(answer.body)}`);
    }
  }
  console.log(`restart (SIGKILL, then the first GET of the session): ${replayTokens} steps, the last ${logged.logTokens} logged (${logged.logBytes} bytes of log) after the snapshot at ${logged.snapshotPosition}: ${median(restarts.replayed).toFixed(1)} ms; a snapshot only ${median(restarts.snapshot).toFixed(1)} ms (medians of ${runs} restarts)`);
} finally {
  httpAgent.destroy();
  for (const d of Object.values(deployments)) await d.server.stop('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
