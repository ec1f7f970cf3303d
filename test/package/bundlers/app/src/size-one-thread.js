// The smallest app, for the bundle size budget: one thread, so no pool and no shared-memory builds.
import { FavorAttention, init } from 'performer-wasm';

await init();
const attn = new FavorAttention({ dim: 16, features: 32 });
const x = new Float32Array(4 * 16).fill(0.5);
postMessage(attn.forward(x, x, x, { queries: 4, dim: 16 }));
