// Applying a request's tokens to a FavorDecoder: a step request steps token by token, a prefill runs
// the parallel causal pass (decoder.prefill) on all of its tokens at once. The session answers with
// this, and the log replays its records with it: the same calls on the same state give the same bits.
import { PerformerError } from 'performer-wasm';
import { ServiceError } from './protocol.js';

/**
 * The answer of `input` applied to `decoder` (which advances by input.tokens): the outputs of every token
 * (token-major), or the last token's for 'prefill-last' (whose prefill leaves the queries before the last
 * chunk unread: the same last row and the same state as a prefill of every output, bit for bit).
 */
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
  // the wire is token-major [tokens, heads, ·]; prefill takes (batch 1) [heads, tokens, ·] and answers [heads, tokens or 1, ·]
  const outputs = input.kind === 'prefill-last' ? 'last' : 'all';
  const out = tokenError(input, undefined, () => decoder.prefill(transpose(input.q, n, heads, dim), transpose(input.k, n, heads, dim),
    transpose(input.v, n, heads, valueDim), n, undefined, { outputs }));
  return outputs === 'last' ? out : transpose(out, heads, n, valueDim);
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
