// onnxruntime-web (wasm, in Node) and onnxruntime-node (native, MLAS) on hand-built ONNX graphs.
import { exactModel, favorModel } from './onnx/graphs.ts';
import type { Peer, PeerLoader, Prepared, Problem } from './types.ts';

// onnxruntime's intra-op threads spin for a while after each run by default: timed in alternation with
// ours (measurePair, ../timing.ts), that spinning would eat into our next sample, so it is turned off for both.
const NO_SPINNING = { session: { intra_op: { allow_spinning: '0' } } };

const version = (ort: any, key: string) => String(ort.env?.versions?.[key] ?? ort.env?.versions?.common ?? '?');

function ortPeer(ort: any, name: string, threads: number, sessionOptions: Record<string, unknown>): Peer {
  return {
    name,
    threads,
    skip: () => undefined,
    async prepare(p: Problem): Promise<Prepared> {
      const model = p.kind === 'exact' ? exactModel(p.d) : favorModel(p.projection, p.m, p.d);
      const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'all', ...sessionOptions });
      const dims = [p.count, p.L, p.d];
      const feeds = { q: new ort.Tensor('float32', p.q, dims), k: new ort.Tensor('float32', p.k, dims), v: new ort.Tensor('float32', p.v, dims) };
      let last: Float32Array = new Float32Array(0);
      return {
        async run() {
          const result = await session.run(feeds);
          last = result.out.data as Float32Array;
          result.out.dispose?.();
        },
        output: () => last,
        dispose: () => void session.release(),
      };
    },
  };
}

export const ortWeb: PeerLoader = {
  id: 'onnxruntime-web',
  async load(threads) {
    const ort = (await import('onnxruntime-web')) as any;
    ort.env.wasm.numThreads = threads;
    ort.env.wasm.simd = true;
    return ortPeer(ort, `onnxruntime-web ${version(ort, 'web')} (wasm)`, threads, { executionProviders: ['wasm'], extra: NO_SPINNING });
  },
};

export const ortNode: PeerLoader = {
  id: 'onnxruntime-node',
  async load(threads) {
    const mod = (await import('onnxruntime-node')) as any;
    const ort = mod.default ?? mod;
    return ortPeer(ort, `onnxruntime-node ${version(ort, 'node')} (native)`, threads, {
      executionProviders: ['cpu'],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      extra: NO_SPINNING,
    });
  },
};
