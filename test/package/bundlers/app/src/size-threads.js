// The same app with threads: the one extra import brings the pool and the shared-memory builds.
import { FavorAttention, init } from 'performer-wasm';
import 'performer-wasm/threads';

await init(undefined, { threads: 2 });
const attn = new FavorAttention({ dim: 16, features: 32 });
const x = new Float32Array(4 * 16).fill(0.5);
postMessage(attn.forward(x, x, x, { queries: 4, dim: 16 }));
