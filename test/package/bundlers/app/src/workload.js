// The bundler apps' workload: the runtime smoke (test/package/runtimes/smoke.js, copied beside this file into
// the app), then computations large enough to go to the thread pool (src/favor/attention.ts sends
// heads·(queries + keys) ≥ 1024 rows; exact attention splits query rows from 128 on). Each head runs
// whole on one thread, so the results have the one-thread bits: a 2-thread bundle must match Node's
// one-thread checksum.
import { exactAttention, FavorAttention, runtimeInfo } from 'performer-wasm';
import { bytesOf, fnv1a, hex, runSmoke, uniform } from './smoke.js';

export async function runWorkload(initOptions = {}) {
  const smoke = await runSmoke(initOptions);
  const parts = { ...smoke.parts };
  let total = parseInt(smoke.checksum, 16);
  const add = (name, array) => {
    parts[name] = hex(fnv1a(bytesOf(array)));
    total = fnv1a(bytesOf(array), total);
  };
  // batch 2 × heads 2, 300 queries and keys: 4 × 600 = 2400 rows
  const [batch, heads, L, dim, valueDim] = [2, 2, 300, 16, 8];
  const shape = { batch, heads, queries: L, dim, valueDim };
  const q = uniform(batch * heads * L * dim, 71, 0.75);
  const k = uniform(batch * heads * L * dim, 72, 0.75);
  const v = uniform(batch * heads * L * valueDim, 73, 1);
  add('pool/bidirectional', new FavorAttention({ dim, features: 32, seed: 7 }).forward(q, k, v, shape));
  add('pool/causal', new FavorAttention({ dim, features: 32, seed: 8, causal: true }).forward(q, k, v, shape));
  add('pool/exact', exactAttention(q, k, v, shape, { causal: true }));
  return { ...smoke, checksum: hex(total), parts, count: Object.keys(parts).length, info: runtimeInfo() };
}
