// What the favor and exact modes call when --peers is given (imported dynamically from them).
import { exactAttention, FavorAttention, runtimeInfo } from 'performer-wasm';
import { ERROR_MAX_L, QK_SIGMA, randn } from '../data.ts';
import type { Row, Table } from '../table.ts';
import type { PeerOptions } from './flags.ts';
import { PEER_AGREEMENT, runPeers, type OursCall } from './index.ts';
import type { Peer, PeerKind, Problem } from './types.ts';
import type { BenchProjection } from '../mode.ts';

/** Peers are not run past this L (a tfjs-wasm FAVOR+ call at 8 heads and L = 16384 already takes seconds). */
export const PEER_MAX_L = 16384;

const find = (rows: Row[], L: number, heads: number) => rows.find((r) => r.L === L && r.heads === heads);
const num = (x: unknown) => (typeof x === 'number' ? x : undefined);
const ourThreads = () => runtimeInfo().threads;

/** The inputs of the favor and causal modes (same seeds), for `count` = batch·heads rows of L tokens. */
const favorInputs = (dim: number) => (L: number, count: number) => {
  const n = count * L * dim;
  return { q: randn(n, 11, QK_SIGMA), k: randn(n, 12, QK_SIGMA), v: randn(n, 13, 1) };
};

/**
 * favor mode: FAVOR+ peers (ratio to our FAVOR+) and exact peers (ratio to our exact), same inputs. The peers
 * compose the dense estimator with our orthogonal seed 0 projection; with another --projection, ours runs
 * that one and our orthogonal pass is listed as one more row beside the peers (its time and error).
 */
export async function favorPeers(
  table: Table,
  o: { seq: number[]; heads: number[]; dim: number; batch: number; features: number; kernel: string; projection: BenchProjection },
  options: PeerOptions,
): Promise<Table[]> {
  if (o.kernel !== 'softmax') throw new Error('--peers: the peers compute the positive softmax kernel only (--kernel softmax)');
  const seq = o.seq.filter((L) => L <= PEER_MAX_L);
  return runPeers({
    kinds: ['favor', 'exact'],
    seq,
    heads: o.heads,
    batch: o.batch,
    dim: o.dim,
    features: o.features,
    errorMaxL: ERROR_MAX_L,
    inputs: favorInputs(o.dim),
    projection: new FavorAttention({ dim: o.dim, features: o.features, kernel: 'softmax', seed: 0 }).projection,
    ours: (kind, L, h) => {
      const row = find(table.rows, L, h);
      return kind === 'favor' ? { ms: num(row?.favorMedianMs), error: num(row?.favorError) } : { ms: num(row?.exactMedianMs) };
    },
    oursCall: (kind, p, h) => oursCall(kind, p, o.batch, h, o.features, o.projection),
    ourThreads: ourThreads(),
    extraPeers: o.projection === 'orthogonal' ? [] : [ourOrthogonal(o.batch, o.features)],
    options,
  });
}

/**
 * causal mode: onnxruntime's LinearAttention (web and node) beside our causal FAVOR+, same inputs; the peers
 * run the projection matrix of ours (--projection), materialized.
 */
export async function causalPeers(
  table: Table,
  o: { seq: number[]; heads: number[]; dim: number; batch: number; features: number; kernel: string; projection: BenchProjection; window: number },
  options: PeerOptions,
): Promise<Table[]> {
  if (o.kernel !== 'softmax') throw new Error('--peers: the peers compute the positive softmax kernel only (--kernel softmax)');
  if (o.window > 0) throw new Error('--peers: the causal peers compute plain causal FAVOR+ (no --window)');
  const projection = new FavorAttention({ dim: o.dim, features: o.features, kernel: 'softmax', projection: o.projection, seed: 0, causal: true }).projection;
  return runPeers({
    kinds: ['causal'],
    seq: o.seq.filter((L) => L <= PEER_MAX_L),
    heads: o.heads,
    batch: o.batch,
    dim: o.dim,
    features: projection.length / o.dim,
    errorMaxL: ERROR_MAX_L,
    inputs: favorInputs(o.dim),
    projection,
    ours: (_kind, L, h) => {
      const row = find(table.rows, L, h);
      return { ms: num(row?.causalMedianMs), error: num(row?.causalError) };
    },
    oursCall: (kind, p, h) => oursCall(kind, p, o.batch, h, o.features, o.projection),
    ourThreads: ourThreads(),
    loaders: async () => {
      const { ortWeb, ortNode } = await import('./ort.ts');
      return [ortWeb, ortNode];
    },
    agree: PEER_AGREEMENT,
    options,
  });
}

/** Our FAVOR+ with the orthogonal projection (seed 0), as a row of the peers table. */
function ourOrthogonal(batch: number, features: number): Peer {
  return {
    name: 'performer-wasm (projection orthogonal)',
    threads: ourThreads(),
    skip: (p) => (p.kind === 'favor' ? undefined : 'FAVOR+ only'),
    async prepare(p) {
      const { run, out } = oursCall('favor', p, batch, p.count / batch, features, 'orthogonal');
      return { run, output: () => out, dispose() {} };
    },
  };
}

/** Our forward (FAVOR+, seed 0 as in favor.ts; causal or not) or exactAttention on a peer case, output preallocated. */
function oursCall(kind: PeerKind, p: Problem, batch: number, heads: number, features: number,
                  projection: BenchProjection = 'orthogonal'): OursCall {
  const out = new Float32Array(p.count * p.L * p.d);
  const shape = { batch, heads, queries: p.L, dim: p.d };
  if (kind === 'exact') return { run: () => void exactAttention(p.q, p.k, p.v, shape, { out }), out };
  const attn = new FavorAttention({ dim: p.d, features, kernel: 'softmax', projection, seed: 0, causal: kind === 'causal' });
  return { run: () => void attn.forward(p.q, p.k, p.v, shape, { out }), out };
}

/** exact mode: exact peers at the mode's shapes and inputs. */
export async function exactPeers(table: Table, o: { seq: number[]; heads: number; dim: number; batch: number }, options: PeerOptions): Promise<Table[]> {
  return runPeers({
    kinds: ['exact'],
    seq: o.seq,
    heads: [o.heads],
    batch: o.batch,
    dim: o.dim,
    features: 0,
    errorMaxL: ERROR_MAX_L,
    inputs: (L, count) => {
      const n = count * L * o.dim;
      return { q: randn(n, 1, 0.5), k: randn(n, 2, 0.5), v: randn(n, 3, 0.5) }; // as exact.ts
    },
    projection: new Float32Array(0),
    ours: (_kind, L) => ({ ms: num(find(table.rows, L, o.heads)?.medianMs) }),
    oursCall: (kind, p, h) => oursCall(kind, p, o.batch, h, 0),
    ourThreads: ourThreads(),
    options,
  });
}
