// TensorFlow.js with its wasm backend (XNNPACK). Facts that shape this file:
// - XNNPACK gets a matMul only when it is 2-D without transpose flags (batched or transposed matMuls
//   fall to a scalar kernel at ~1.5 GFLOP/s), so heads are a loop of 2-D matMuls, kᵀ for exact
//   attention is transposed once outside the timed region (as a careful user would), and φ(K)ᵀ is an
//   explicit transpose.
// - Under Node the backend turns threads off (WASM_HAS_MULTITHREAD_SUPPORT is false when IS_NODE). With
//   threads > 1 we force the threaded-SIMD build: its pthread workers are created from blob: URLs, which
//   Node's Worker refuses, so the two blobs (worker script, main script) are written to a temp dir.
//   Its init caps the pool at (logical cores)/2, so os.cpus() reports 2·threads during init.
// - setWasmPaths(dir of the package's dist/) loads the .wasm from node_modules, offline.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { Peer, PeerLoader, Prepared, Problem } from './types.ts';

export const tfjsWasm: PeerLoader = {
  id: 'tfjs-backend-wasm',
  async load(threads) {
    const tf = await import('@tensorflow/tfjs-core');
    const backend = await import('@tensorflow/tfjs-backend-wasm');
    const require = createRequire(import.meta.url);
    const pkgDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
    const version = (require('@tensorflow/tfjs-backend-wasm/package.json') as { version: string }).version;
    backend.setWasmPaths(`${pkgDir}/dist/`);
    backend.setThreadsCount(threads);
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', threads > 1);
    const shims = threads > 1 ? nodeThreadShims(pkgDir, threads) : undefined;
    try {
      if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") failed');
      await tf.ready();
    } finally {
      shims?.restore();
    }
    const actual = backend.getThreadsCount();
    return {
      name: `tfjs-backend-wasm ${version}${actual > 1 ? ' (threaded SIMD)' : ' (SIMD)'}`,
      threads: actual,
      skip: () => undefined,
      prepare: async (p) => prepare(tf, p),
      close: () => {
        // The pthread workers would keep the process alive.
        (tf.backend() as any).wasm?.PThread?.terminateAllThreads?.();
        if (shims) rmSync(shims.dir, { recursive: true, force: true });
      },
    } satisfies Peer;
  },
};

type Tf = typeof import('@tensorflow/tfjs-core');

function prepare(tf: Tf, p: Problem): Prepared {
  const { L, d, m, count } = p;
  const head = (x: Float32Array, h: number) => tf.tensor2d(x.subarray(h * L * d, (h + 1) * L * d), [L, d]);
  const qs = Array.from({ length: count }, (_, h) => head(p.q, h));
  const vs = Array.from({ length: count }, (_, h) => head(p.v, h));
  const out = new Float32Array(count * L * d);
  const kept: import('@tensorflow/tfjs-core').Tensor[] = [...qs, ...vs];
  let run: () => void;
  if (p.kind === 'exact') {
    const kts = Array.from({ length: count }, (_, h) => tf.tidy(() => tf.transpose(head(p.k, h)))); // [d, L], untimed
    kept.push(...kts);
    const scale = tf.scalar(1 / Math.sqrt(d));
    kept.push(scale);
    run = () => {
      for (let h = 0; h < count; h++) {
        const o = tf.tidy(() => tf.matMul(tf.softmax(tf.matMul(tf.mul(qs[h], scale), kts[h])), vs[h]));
        out.set(o.dataSync() as Float32Array, h * L * d);
        o.dispose();
      }
    };
  } else {
    const ks = Array.from({ length: count }, (_, h) => head(p.k, h));
    const s = d ** -0.25;
    const wt = new Float32Array(d * m); // Wᵀ·d^(-1/4), [d, m]
    for (let r = 0; r < m; r++) for (let c = 0; c < d; c++) wt[c * m + r] = p.projection[r * d + c] * s;
    const w = tf.tensor2d(wt, [d, m]);
    const hscale = tf.scalar(0.5 * s * s);
    kept.push(...ks, w, hscale);
    const exponent = (x: import('@tensorflow/tfjs-core').Tensor2D) => tf.sub(tf.matMul(x, w), tf.mul(tf.sum(tf.square(x), 1, true), hscale));
    run = () => {
      for (let h = 0; h < count; h++) {
        const o = tf.tidy(() => {
          const ka = exponent(ks[h]);
          const kphi = tf.exp(tf.sub(ka, tf.max(ka))); // [L, m]
          const kphiT = tf.transpose(kphi); // [m, L]
          const S = tf.matMul(kphiT, vs[h]); // [m, d]
          const z = tf.sum(kphiT, 1, true); // [m, 1]
          const qa = exponent(qs[h]);
          const qphi = tf.exp(tf.sub(qa, tf.max(qa, 1, true)));
          return tf.div(tf.matMul(qphi, S), tf.matMul(qphi, z));
        });
        out.set(o.dataSync() as Float32Array, h * L * d);
        o.dispose();
      }
    };
  }
  return { run, output: () => out, dispose: () => kept.forEach((t) => t.dispose()) };
}

/** Lets the threaded-SIMD build start its pthread workers under Node; returns the undo and the temp dir. */
function nodeThreadShims(pkgDir: string, threads: number): { restore(): void; dir: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tfjs-wasm-threads-'));
  const mainFile = path.join(dir, 'main.js');
  const workerFile = path.join(dir, 'worker.js');
  const factory = path.join(pkgDir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.js');
  // The workers evaluate main.js, which takes the factory from the package's own CommonJS build.
  writeFileSync(mainFile, `var WasmBackendModuleThreadedSimd = require(${JSON.stringify(factory)});\n`);
  const RealBlob = globalThis.Blob;
  const realCreate = URL.createObjectURL;
  const realCpus = os.cpus;
  const files = new WeakMap<Blob, string>();
  globalThis.Blob = class extends RealBlob {
    constructor(parts: BlobPart[] = [], options?: BlobPropertyBag) {
      super(parts, options);
      const text = parts.map(String).join('');
      if (text.startsWith('var WasmBackendModuleThreadedSimd')) files.set(this, mainFile);
      else {
        // The worker script; inside the worker, the main-script blob it receives maps to main.js.
        writeFileSync(workerFile, `URL.createObjectURL = () => ${JSON.stringify(mainFile)}; URL.revokeObjectURL = () => {};\n${text}`);
        files.set(this, workerFile);
      }
    }
  };
  URL.createObjectURL = (obj: Blob | MediaSource) => files.get(obj as Blob) ?? realCreate(obj);
  const cpu = realCpus()[0];
  (os as { cpus: typeof os.cpus }).cpus = () => Array.from({ length: 2 * threads }, () => cpu);
  const restore = () => {
    globalThis.Blob = RealBlob;
    URL.createObjectURL = realCreate;
    (os as { cpus: typeof os.cpus }).cpus = realCpus;
  };
  return { restore, dir };
}
