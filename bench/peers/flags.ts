// The --peers flag (favor and exact modes). Kept apart from index.ts so that declaring the flag loads
// no peer package: they are imported (dynamically) only when --peers is given.
import { type Flag, type FlagValues, UsageError } from '../mode.ts';

export const peerFlags: Record<string, Flag> = {
  peers: { type: 'boolean', help: 'also time peer libraries (tfjs-wasm, onnxruntime-web/-node, ruvector) on the same inputs; see --help notes' },
};

export interface PeerOptions {
  peers: boolean;
  /** The global --threads (default 1): peers run at this count too. */
  threads: number;
  /** The global --time, seconds. */
  budget: number;
}

export function peerOptions(flags: FlagValues): PeerOptions {
  const threads = flags.threads === undefined ? 1 : Number(flags.threads);
  if (!Number.isInteger(threads) || threads < 1) throw new UsageError(`--threads takes a positive integer (got "${flags.threads}")`);
  const budget = flags.time === undefined ? 1 : Number(flags.time);
  return { peers: flags.peers === true, threads, budget: budget >= 0 ? budget : 1 };
}

export const peerNotes = [
  'Peers (--peers; imported only then, installed by you: npm install @tensorflow/tfjs-core@4 @tensorflow/tfjs-backend-wasm@4',
  '  onnxruntime-web onnxruntime-node ruvector-attention-wasm): @tensorflow/tfjs-backend-wasm (XNNPACK; threaded SIMD forced',
  '  under Node when --threads > 1), onnxruntime-web (wasm, env.wasm.numThreads) and onnxruntime-node (native MLAS,',
  '  intraOpNumThreads), all at --threads; FAVOR+ composed from their ops with our projection (seed 0), exact attention',
  '  as softmax(qkᵀ/√d)v from ops. ruvector-attention-wasm\'s LinearAttention (its own projection) has a one-query API:',
  '  a few queries are timed and the time is scaled to all queries ("×" in the table). Each peer is timed in turns',
  '  with our call, sample by sample; ratio = median of the paired peer ms / our ms (onnxruntime: no thread spinning).',
];
