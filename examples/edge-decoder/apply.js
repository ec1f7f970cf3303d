// Applying a request's tokens to a FavorDecoder: a step request steps token by token, a prefill runs
// the parallel causal pass (decoder.prefill) on all of its tokens at once. The session answers with
// this, and the log replays its records with it: the same calls on the same state give the same bits.
import { PerformerError } from 'performer-wasm';
import { ServiceError } from './protocol.js';

/** The outputs of every token of `input` (token-major), applied to `decoder`; the decoder advances by input.tokens. */
export function applyRequest(decoder, config, input) {
  const { heads, dim, valueDim } = config;
  const n = input.tokens;
  if (input.kind === 'step') {
    const per = heads * dim;
    const perV = heads * valueDim;
    const outputs = new Float32Array(n * perV);
    for (let t = 0; t < n; t++) {
      tokenError(input, t, () => decoder.step(input.q.subarray(t * per, (t + 1) * per), input.k.subarray(t * per, (t + 1) * per),
        input.v.subarray(t * perV, (t + 1) * perV), outputs.subarray(t * perV, (t + 1) * perV)));
    }
    return outputs;
  }
  // the wire is token-major [tokens, heads, ·]; prefill takes (batch 1) [heads, tokens, ·]
  const out = tokenError(input, undefined, () => decoder.prefill(transpose(input.q, n, heads, dim), transpose(input.k, n, heads, dim), transpose(input.v, n, heads, valueDim), n));
  return transpose(out, heads, n, valueDim);
}

/** The answer of a request from the outputs of its tokens: all of them, or the last token's for 'prefill-last'. */
export function answerOf(config, input, outputs) {
  return input.kind === 'prefill-last' ? outputs.subarray((input.tokens - 1) * config.heads * config.valueDim) : outputs;
}

/** Blocks [a][b][width] → [b][a][width] (plain index loops: a view per block costs more than its copy). */
function transpose(x, a, b, width) {
  const out = new Float32Array(x.length);
  for (let i = 0; i < a; i++) {
    for (let j = 0; j < b; j++) {
      const from = (i * b + j) * width;
      const to = (j * a + i) * width;
      for (let c = 0; c < width; c++) out[to + c] = x[from + c];
    }
  }
  return out;
}

/** Runs `work`; a PerformerError becomes a ServiceError naming the token (400, or 500 for a wasm trap). */
function tokenError(input, t, work) {
  try {
    return work();
  } catch (error) {
    if (!(error instanceof PerformerError)) throw error;
    const where = t === undefined ? `the prefill of ${input.tokens} tokens at position ${input.position}` : `token ${t} of the request (position ${input.position + t})`;
    throw new ServiceError(error.code === 'KERNEL_FAULT' ? 500 : 400, error.code, `${where}: ${error.message}`);
  }
}
