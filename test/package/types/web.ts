// Results handed to Web APIs that want an ArrayBuffer-backed BufferSource (TypeScript ≥ 5.7 refuses
// Float32Array<ArrayBufferLike> there). Compiled in the settings with the DOM lib.
import { exactAttention, FavorAttention } from 'performer-wasm';

export async function web(url: string): Promise<void> {
  const attn = new FavorAttention({ dim: 4, features: 8, causal: true });
  const q = new Float32Array(4 * 4);
  const out = attn.forward(q, q, q, { queries: 4, dim: 4 });
  const exact = exactAttention(q, q, q, { queries: 4, dim: 4 });
  const decoder = attn.decoder();
  const y = decoder.step(q.subarray(0, 4), q.subarray(0, 4), q.subarray(0, 4));
  const blob = new Blob([out, exact, y, attn.projection]);
  const digest = await crypto.subtle.digest('SHA-256', out);
  await fetch(url, { method: 'POST', body: decoder.saveState() });
  await fetch(url, { method: 'POST', body: blob });
  void digest;
}
