// A strict consumer of the published types, in every setting of test/package/types.test.ts (also without the DOM lib
// and on the oldest supported TypeScript): it must compile there with no error.
import {
  exactAttention, exactAttentionBackward, FavorAttention, init, initSync, memoryBytes, PerformerError, runtimeInfo,
  type AttentionShape, type DecoderOptions, type FavorAttentionOptions, type FavorDecoder, type Gradients, type KernelName,
  type PerformerErrorCode, type RuntimeInfo, type WasmSource,
} from 'performer-wasm';
import wasmModule from 'performer-wasm/performer.wasm';

export async function main(): Promise<number> {
  await init();
  initSync(undefined, { relaxedSimd: false });
  const source: WasmSource = wasmModule;
  void source;
  const shape: AttentionShape = { heads: 2, queries: 4, dim: 8 };
  const kernel: KernelName = 'softmax-hyperbolic';
  const options: FavorAttentionOptions = { dim: 8, features: 16, kernel, seed: 7, causal: true };
  const attn = new FavorAttention(options);
  const q = new Float32Array(2 * 4 * 8);
  const out: Float32Array = attn.forward(q, q, q, shape);
  const grads: Gradients = attn.backward(q, q, q, out, shape);
  const exact: Float32Array = exactAttention(q, q, q, shape, { causal: true });
  const exactGrads = exactAttentionBackward(q, q, q, exact, shape);
  const decoderOptions: DecoderOptions = { heads: 2 };
  const decoder: FavorDecoder = attn.decoder(decoderOptions);
  const y: Float32Array = decoder.step(q.subarray(0, 16), q.subarray(0, 16), q.subarray(0, 16));
  const state: Uint8Array = decoder.saveState();
  const info: RuntimeInfo = runtimeInfo();
  try {
    new FavorAttention({ dim: 0 });
  } catch (error) {
    if (error instanceof PerformerError) {
      const code: PerformerErrorCode = error.code;
      void code;
    }
  }
  return out.length + grads.dq.length + exactGrads.dv.length + y.length + state.length + info.threads + memoryBytes();
}
