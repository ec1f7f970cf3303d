// onnxruntime-web (wasm, in Node) and onnxruntime-node (native, MLAS) on hand-built ONNX graphs: FAVOR+ and
// exact attention from standard ops, causal FAVOR+ through the contrib op com.microsoft.LinearAttention.
import { causalLinearAttentionModel, exactModel, favorModel } from './onnx/graphs.ts';
import type { Peer, PeerLoader, Prepared, Problem } from './types.ts';

// onnxruntime's intra-op threads spin for a while after each run by default: timed in alternation with
// ours (measurePair, ../timing.ts), that spinning would eat into our next sample, so it is turned off for both.
const NO_SPINNING = { session: { intra_op: { allow_spinning: '0' } } };

const version = (ort: any, key: string) => String(ort.env?.versions?.[key] ?? ort.env?.versions?.common ?? '?');

/** One flavour of onnxruntime, started: its module, table label, threads and session options. */
export interface OrtRuntime {
  ort: any;
  name: string;
  threads: number;
  sessionOptions: Record<string, unknown>;
}

export async function ortWebRuntime(threads: number): Promise<OrtRuntime> {
  const ort = (await import('onnxruntime-web')) as any;
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.simd = true;
  return { ort, name: `onnxruntime-web ${version(ort, 'web')} (wasm)`, threads, sessionOptions: { executionProviders: ['wasm'], extra: NO_SPINNING } };
}

export async function ortNodeRuntime(threads: number): Promise<OrtRuntime> {
  const mod = (await import('onnxruntime-node')) as any;
  const ort = mod.default ?? mod;
  return {
    ort,
    name: `onnxruntime-node ${version(ort, 'node')} (native)`,
    threads,
    sessionOptions: { executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', extra: NO_SPINNING },
  };
}

/** A session on `model` with the runtime's options (graph optimizations on). */
export const ortSession = (rt: OrtRuntime, model: Uint8Array): Promise<any> =>
  rt.ort.InferenceSession.create(model, { graphOptimizationLevel: 'all', ...rt.sessionOptions });

function modelOf(p: Problem): Uint8Array {
  if (p.kind === 'exact') return exactModel(p.d);
  return p.kind === 'causal' ? causalLinearAttentionModel(p.projection, p.m, p.d) : favorModel(p.projection, p.m, p.d);
}

function ortPeer(rt: OrtRuntime): Peer {
  const { ort } = rt;
  return {
    name: rt.name,
    threads: rt.threads,
    skip: () => undefined,
    async prepare(p: Problem): Promise<Prepared> {
      const session = await ortSession(rt, modelOf(p));
      const dims = [p.count, p.L, p.d];
      const feeds = { q: new ort.Tensor('float32', p.q, dims), k: new ort.Tensor('float32', p.k, dims), v: new ort.Tensor('float32', p.v, dims) };
      let last: Float32Array = new Float32Array(0);
      return {
        async run() {
          const result = await session.run(feeds);
          last = result.out.data as Float32Array;
          result.out.dispose?.();
          result.present_state?.dispose?.();
        },
        output: () => last,
        dispose: () => void session.release(),
      };
    },
  };
}

export const ortWeb: PeerLoader = { id: 'onnxruntime-web', load: async (threads) => ortPeer(await ortWebRuntime(threads)) };
export const ortNode: PeerLoader = { id: 'onnxruntime-node', load: async (threads) => ortPeer(await ortNodeRuntime(threads)) };
