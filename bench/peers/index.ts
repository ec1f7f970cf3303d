// Peers side by side with performer-wasm (--peers): the same inputs, the same thread count, the
// median ms and its ratio to ours, and (L ≤ ERROR_MAX_L) the error against exact attention.
// Every peer package is imported here dynamically, so a plain `npm run bench` never loads one.
import { exactAttention } from 'performer-wasm';
import { relError } from '../data.ts';
import { sig3, type Row, type Table } from '../table.ts';
import type { PeerOptions } from './flags.ts';
import { measurePair } from '../timing.ts';
import { UsageError } from '../mode.ts';
import type { Peer, PeerKind, PeerLoader, Prepared, Problem } from './types.ts';

/** Peers that compute what we compute must agree with our output to this relative error before they are timed. */
export const PEER_AGREEMENT = 1e-4;

/** Exact attention peers are timed up to this L (they materialize L×L scores). */
export const PEER_EXACT_MAX_L = 4096;

export interface PeerRun {
  /** Which tables: FAVOR+ peers, exact peers, causal FAVOR+ peers. */
  kinds: PeerKind[];
  seq: number[];
  heads: number[];
  batch: number;
  dim: number;
  features: number;
  /** Errors against exact attention are computed up to this L. */
  errorMaxL: number;
  /** The mode's inputs for this L at `count` = batch·heads (the same seeds as the mode's own timings). */
  inputs(L: number, count: number): { q: Float32Array; k: Float32Array; v: Float32Array };
  projection: Float32Array;
  /** Our median ms (and FAVOR+ error) from the mode's table, when timed there. */
  ours(kind: PeerKind, L: number, heads: number): { ms?: number; error?: number };
  /** Our call on these inputs and its preallocated output: timed again with each peer, sample by sample. */
  oursCall(kind: PeerKind, p: Problem, heads: number): OursCall;
  /** Threads performer-wasm ran with. */
  ourThreads: number;
  /** Rows timed like the peers (for example our own pass with another projection). */
  extraPeers?: Peer[];
  /** The peer libraries to load (default: all). */
  loaders?: () => Promise<PeerLoader[]>;
  /**
   * Before timing, the peer's output must agree with ours to this relative error (‖peer − ours‖/‖ours‖), or its
   * row fails with both numbers; unset: no check (peers whose algorithm differs from ours, such as ruvector).
   */
  agree?: number;
  options: PeerOptions;
}

export interface OursCall {
  run(): void;
  out: Float32Array;
}

/** The npm packages each peer needs (for the message when none can be loaded). */
const PEER_PACKAGES: Record<string, string> = {
  'tfjs-backend-wasm': '@tensorflow/tfjs-core@4 @tensorflow/tfjs-backend-wasm@4',
  'onnxruntime-web': 'onnxruntime-web',
  'onnxruntime-node': 'onnxruntime-node',
  'ruvector-attention-wasm': 'ruvector-attention-wasm',
};

async function allLoaders(): Promise<PeerLoader[]> {
  const [{ tfjsWasm }, { ortWeb, ortNode }, { ruvector }] = await Promise.all([import('./tfjs.ts'), import('./ort.ts'), import('./ruvector.ts')]);
  return [tfjsWasm, ortWeb, ortNode, ruvector];
}

const progress = (text: string) => process.stderr.isTTY && process.stderr.write(`\r\x1b[K${text}`);

export async function runPeers(run: PeerRun): Promise<Table[]> {
  const { threads, budget } = run.options;
  const peers: Peer[] = [];
  const unavailable: string[] = [];
  const loadersTried: string[] = [];
  for (const loader of await (run.loaders ?? allLoaders)()) {
    loadersTried.push(loader.id);
    try {
      progress(`[peers] loading ${loader.id} …`);
      peers.push(await loader.load(threads));
    } catch (error) {
      unavailable.push(`${loader.id}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  if (!peers.length) {
    const install = loadersTried.map((id) => PEER_PACKAGES[id] ?? id).join(' ');
    throw new UsageError(`--peers: none of the peer libraries is installed; install them beside performer-wasm: npm install ${install}\n(${unavailable.join('; ')})`);
  }
  peers.push(...(run.extraPeers ?? []));
  const rows: Record<PeerKind, Row[]> = { favor: [], exact: [], causal: [] };
  const maxCount = run.batch * Math.max(...run.heads);
  for (const L of run.seq) {
    const all = run.inputs(L, maxCount);
    for (const h of run.heads) {
      const count = run.batch * h;
      const len = count * L * run.dim;
      const [q, k, v] = [all.q.subarray(0, len), all.k.subarray(0, len), all.v.subarray(0, len)];
      const shape = { batch: run.batch, heads: h, queries: L, dim: run.dim };
      const references: (Float32Array | undefined)[] = [];
      const exact = (causal: boolean) => (references[+causal] ??= exactAttention(q, k, v, shape, { causal }));
      for (const kind of run.kinds) {
        if (kind === 'exact' && L > PEER_EXACT_MAX_L) continue;
        const problem: Problem = { kind, count, L, d: run.dim, m: run.features, q, k, v, projection: run.projection };
        const ours = run.ours(kind, L, h);
        // The machine is shared and its load drifts: ours is timed again with each peer, alternating
        // sample by sample (measurePair), and the ratio uses that timing (the mode's own, earlier, is kept
        // as oursModeMs in --json).
        const oursCall = run.oursCall(kind, problem, h);
        for (const peer of peers) {
          const row: Row = { peer: peer.name, threads: peer.threads, L, heads: h, batch: run.batch };
          if (ours.ms !== undefined) row.oursModeMs = ours.ms;
          if (ours.error !== undefined) row.oursError = ours.error;
          const why = peer.skip(problem);
          if (why) continue;
          progress(`[peers] ${kind} ${peer.name} L=${L} heads=${h}, beside performer-wasm …`);
          try {
            const prepared = await peer.prepare(problem);
            if (run.agree !== undefined) row.agreement = await checkAgreement(oursCall, prepared, run.agree);
            const { ours: o, other: t, ratio } = await measurePair(oursCall.run, () => prepared.run(), budget);
            const factor = prepared.extrapolate ?? 1;
            Object.assign(row, { oursMs: o.medianMs, oursRme: o.rme });
            Object.assign(row, { medianMs: t.medianMs * factor, meanMs: t.meanMs * factor, rme: t.rme, samples: t.samples });
            if (factor !== 1) Object.assign(row, { extrapolated: factor, timedMs: t.medianMs });
            row.ratio = ratio * factor;
            if (L <= run.errorMaxL) row.error = errorOf(prepared.output(), exact(kind === 'causal'), prepared.rows, run.dim);
            prepared.dispose();
          } catch (error) {
            row.failed = (error as Error).message.split('\n')[0];
          }
          rows[kind].push(row);
        }
      }
    }
  }
  progress('');
  for (const peer of peers) await peer.close?.();
  const threadNote = `performer-wasm at ${run.ourThreads} thread${run.ourThreads > 1 ? 's' : ''}, peers asked for ${threads}`;
  const tables: Table[] = [];
  const sci = (x: number) => x.toExponential(2);
  for (const kind of run.kinds) {
    const paired = 'ours timed again with each peer, alternating sample by sample; ratio = median of paired peer/ours';
    const title = {
      favor: `Peers: FAVOR+ (d = ${run.dim}, m = ${run.features}, batch ${run.batch}; ${threadNote}; ${paired}; err vs exact attention)`,
      exact: `Peers: exact attention (d = ${run.dim}, batch ${run.batch}, L ≤ ${PEER_EXACT_MAX_L}; ${threadNote}; ${paired})`,
      causal: `Peers: causal FAVOR+ (d = ${run.dim}, m = ${run.features}, batch ${run.batch}; onnxruntime: com.microsoft.LinearAttention on positive features from ops, the same projection, agree: ‖peer − ours‖/‖ours‖, ≤ ${run.agree} before timing; ${threadNote}; ${paired}; err vs exact causal attention)`,
    }[kind];
    const shown = rows[kind].map((r) => ({
      ...r,
      ms: r.failed ? `failed: ${r.failed}` : r.extrapolated ? `${(r.medianMs as number).toFixed(0)} (×${sig3(r.extrapolated as number)})` : r.medianMs,
    }));
    tables.push({
      mode: `peers-${kind}`,
      title: unavailable.length ? `${title}\n(not loaded: ${unavailable.join('; ')})` : title,
      columns: [
        { key: 'peer', label: 'peer' },
        { key: 'threads', label: 'thr', format: String },
        { key: 'L', label: 'L', format: String },
        { key: 'heads', label: 'heads', format: String },
        { key: 'ms', label: 'median ms' },
        { key: 'rme', label: '±RME', format: (x) => `±${x.toFixed(1)}%` },
        { key: 'oursMs', label: 'ours ms' },
        { key: 'ratio', label: 'ratio', format: (x) => `${sig3(x)}×` },
        { key: 'error', label: kind === 'exact' ? 'err vs ours' : 'err', format: sci },
        ...(kind === 'exact' ? [] : [{ key: 'oursError', label: 'our err', format: sci }]),
        { key: 'agreement', label: 'agree', format: sci, optional: true },
      ],
      rows: shown,
    });
  }
  return tables;
}

/**
 * Runs ours and the peer once each: their relative difference, or an error when it is above `tolerance`
 * (so the row fails before it is timed).
 */
export async function checkAgreement(ours: OursCall, peer: Prepared, tolerance: number): Promise<number> {
  ours.run();
  await peer.run();
  const difference = relError(peer.output(), ours.out);
  if (!(difference <= tolerance)) throw new Error(`disagrees with performer-wasm: ‖peer − ours‖/‖ours‖ = ${difference.toExponential(2)} > ${tolerance}`);
  return difference;
}

/** ‖out − ref‖/‖ref‖ over all rows, or over `rows` (out holds just those rows, in order). */
function errorOf(out: Float32Array, ref: Float32Array, rows: number[] | undefined, d: number): number {
  if (!rows) return relError(out, ref);
  const picked = new Float32Array(rows.length * d);
  rows.forEach((r, i) => picked.set(ref.subarray(r * d, (r + 1) * d), i * d));
  return relError(out, picked);
}
