// Run in a child process by test/stress/bad-input.test.ts: the package imported and used before init().
// Prints one JSON line: entry point → the PerformerError code it threw, or 'ok'.
import { readFileSync } from 'node:fs';
import { exactAttention, FavorAttention, initSync, memoryBytes, PerformerError } from '../../src/index.ts';

const codes: Record<string, string> = {};
function attempt(name: string, fn: () => unknown, okText = 'ok'): void {
  try {
    fn();
    codes[name] = okText;
  } catch (error) {
    codes[name] = error instanceof PerformerError ? error.code : `not a PerformerError: ${String(error)}`;
  }
}

const x = new Float32Array(8);
const shape = { queries: 2, dim: 4 };
attempt('memoryBytes', () => memoryBytes());
attempt('exactAttention', () => exactAttention(x, x, x, shape));
// the bad arguments are not looked at: NOT_INITIALIZED comes first
attempt('exactAttention with bad arguments', () => exactAttention([] as never, x, x, null as never));
let attn: FavorAttention | undefined;
attempt('new FavorAttention', () => { attn = new FavorAttention({ dim: 4, features: 4, causal: true }); }, 'ok (needs no wasm)');
attempt('redraw', () => attn!.redraw(3), 'ok (needs no wasm)');
attempt('forward', () => attn!.forward(x, x, x, shape));
attempt('forward with bad arguments', () => attn!.forward(x, x, x, { queries: 0, dim: 4 }));
attempt('decoder', () => attn!.decoder());
attempt('decoderFromState', () => attn!.decoderFromState(new Uint8Array(60)));
attempt('initSync, then forward', () => {
  const path = process.env.PERFORMER_WASM;
  if (path) initSync(readFileSync(path));
  else initSync(undefined, { relaxedSimd: false });
  attn!.forward(x, x, x, shape);
});
console.log(JSON.stringify(codes));
