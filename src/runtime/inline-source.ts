// Default wasm source for Node, browsers, Deno and Bun: the builds inlined as base64, decoded once.
// The shared-memory builds (threads) come with the `performer-wasm/threads` entry (src/threads/index.ts).
import { baselineWasmBase64, relaxedWasmBase64 } from '../generated/wasm-inline.ts';
import { decodeBase64 } from './base64.ts';
import { setDefaultSources } from './load.ts';

let baseline: Uint8Array | undefined;
let relaxed: Uint8Array | undefined;

setDefaultSources({
  baseline: () => (baseline ??= decodeBase64(baselineWasmBase64)),
  relaxed: () => (relaxed ??= decodeBase64(relaxedWasmBase64)),
});
