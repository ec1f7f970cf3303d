// Default wasm source for Node, browsers, Deno and Bun: the builds inlined as base64, decoded once.
// The shared-memory builds (threads) are in a module of their own, imported only when asked for.
import { baselineWasmBase64, relaxedWasmBase64 } from '../generated/wasm-inline.ts';
import { setDefaultSources } from './wasm.ts';

function decode(base64: string): Uint8Array {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

let baseline: Uint8Array | undefined;
let relaxed: Uint8Array | undefined;

setDefaultSources({
  baseline: () => (baseline ??= decode(baselineWasmBase64)),
  relaxed: () => (relaxed ??= decode(relaxedWasmBase64)),
  threaded: async (useRelaxed) => {
    const builds = await import('../generated/wasm-threads-inline.ts');
    return decode(useRelaxed ? builds.relaxedThreadsWasmBase64 : builds.threadsWasmBase64);
  },
});
