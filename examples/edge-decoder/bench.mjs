// Bench of the edge decoder example in workerd (on-disk Durable Objects in a temporary folder):
// steps per second and p50/p99 request latency with 1, 8 and 32 concurrent sessions (each a closed
// loop of single-token binary steps), and the storage each session takes. Not a test: run it with
//   npm run bench:edge -- [--dim 64] [--heads 8] [--features 128] [--steps 64] [--runs 3] [--sessions 1,8,32]
// Figures are medians over the runs. The in-process FavorDecoder.step time of the same shape is
// printed beside them (what the service adds is HTTP, the Durable Object hop and the storage write).
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FavorAttention, init } from 'performer-wasm';
import { freePort } from '../../test/package/runtimes/harness.ts';
import { uniform } from '../../test/package/runtimes/smoke.js';
import { postStep, session, stepBody } from './client.ts';
import { startEdge, writeEdgeConfig } from './launch.ts';

const { values: args } = parseArgs({
  options: {
    dim: { type: 'string', default: '64' },
    heads: { type: 'string', default: '8' },
    features: { type: 'string', default: '128' },
    kernel: { type: 'string', default: 'softmax' },
    steps: { type: 'string', default: '64' },
    runs: { type: 'string', default: '3' },
    sessions: { type: 'string', default: '1,8,32' },
  },
});
const config = { dim: +args.dim, heads: +args.heads, valueDim: +args.dim, features: +args.features, seed: 1, kernel: args.kernel };
const shape = { heads: config.heads, dim: config.dim, valueDim: config.valueDim };
const steps = +args.steps;
const runs = +args.runs;
const counts = args.sessions.split(',').map(Number);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const quantile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];

/** One run: `n` fresh sessions, each `steps` single-token requests in a closed loop, all concurrent. */
async function run(origin, n, tag) {
  const per = config.heads * config.dim;
  const sessions = await Promise.all(Array.from({ length: n }, async (_, i) => {
    const id = `${tag}-${i}`;
    const created = await session(origin, id, 'PUT');
    if (created.status !== 201) throw new Error(`PUT ${id}: ${JSON.stringify(created.body)}`);
    const q = uniform(steps * per, 3 * i + 1, 0.75);
    const k = uniform(steps * per, 3 * i + 2, 0.75);
    const v = uniform(steps * per, 3 * i + 3, 1);
    return { id, bodies: Array.from({ length: steps }, (_, t) => stepBody(shape, t, q.subarray(t * per, (t + 1) * per), k.subarray(t * per, (t + 1) * per), v.subarray(t * per, (t + 1) * per), 'binary')) };
  }));
  const latencies = [];
  const t0 = performance.now();
  await Promise.all(sessions.map(async (s) => {
    for (const body of s.bodies) {
      const start = performance.now();
      const answer = await postStep(origin, s.id, body);
      latencies.push(performance.now() - start);
      if (answer.status !== 200) throw new Error(`${s.id}: ${JSON.stringify(answer.error)}`);
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return { stepsPerSecond: (n * steps) / seconds, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), ids: sessions.map((s) => s.id) };
}

/** Median bytes per object of its SQLite database and of its write-ahead log, in the storage folder. */
function diskBytesPerObject(storage) {
  const files = { db: [], wal: [] };
  for (const entry of readdirSync(storage, { recursive: true, withFileTypes: true })) {
    const match = entry.isFile() && /^[0-9a-f]{64}\.sqlite(-wal)?$/.exec(entry.name);
    if (match) files[match[1] ? 'wal' : 'db'].push(statSync(join(entry.parentPath, entry.name)).size);
  }
  return { db: median(files.db), wal: files.wal.length ? median(files.wal) : 0 };
}

/** Median µs of FavorDecoder.step for this shape in Node (baseline build). */
function nodeStepMicros() {
  const attn = new FavorAttention({ dim: config.dim, features: config.features, kernel: config.kernel, seed: config.seed, causal: true });
  const decoder = attn.decoder({ heads: config.heads, valueDim: config.valueDim });
  const per = config.heads * config.dim;
  const [q, k, v] = [uniform(per, 1, 0.75), uniform(per, 2, 0.75), uniform(per, 3, 1)];
  const times = [];
  for (let r = 0; r < 15; r++) {
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) decoder.step(q, k, v);
    times.push(((performance.now() - t0) / 200) * 1000);
  }
  decoder.dispose();
  return median(times);
}

await init(undefined, { relaxedSimd: false });
const dir = mkdtempSync(join(tmpdir(), 'edge-bench-'));
const port = await freePort();
const server = await startEdge(writeEdgeConfig(dir, port, config), port);
try {
  console.log(`edge decoder in workerd: dim ${config.dim}, heads ${config.heads}, valueDim ${config.valueDim}, features ${config.features}, kernel ${config.kernel}; ${steps} single-token steps per session, median of ${runs} runs`);
  console.log(`FavorDecoder.step in Node (same shape): ${nodeStepMicros().toFixed(1)} µs`);
  console.log('sessions  steps/s   p50 ms   p99 ms');
  let ids = [];
  for (const n of counts) {
    const results = [];
    for (let r = 0; r < runs; r++) results.push(await run(server.origin, n, `n${n}-r${r}`));
    ids = results.at(-1).ids;
    const pick = (key) => median(results.map((x) => x[key]));
    console.log(`${String(n).padStart(8)}  ${pick('stepsPerSecond').toFixed(0).padStart(7)}  ${pick('p50').toFixed(2).padStart(7)}  ${pick('p99').toFixed(2).padStart(7)}`);
  }
  const info = (await session(server.origin, ids[0])).body;
  const disk = diskBytesPerObject(join(dir, 'storage'));
  console.log(`storage per session: ${info.storedBytes} bytes of values (decoder state ${info.stateBytes} in ${info.stateChunks} storage value(s), last response, record); on disk (median per object) ${disk.db} bytes of SQLite database + ${disk.wal} bytes of write-ahead log`);
} finally {
  await server.stop('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
