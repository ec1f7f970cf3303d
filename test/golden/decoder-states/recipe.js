// The inputs recipe of the golden decoder states (scripts/make-golden-states.mjs wrote them, the test
// test/decoder/saved-state-compat.test.ts continues them): token t of an entry has
//   q = uniform(batch·heads·dim, inputSeed + 3t, 0.75), k = uniform(…, inputSeed + 3t + 1, 0.75),
//   v = uniform(batch·heads·valueDim, inputSeed + 3t + 2, 1)
// with uniform() of test/package/runtimes/smoke.js (mulberry32, integer arithmetic only: exact in float32, the
// same in every engine). Do not change it: the stored checksums were computed with it.
import { bytesOf, fnv1a, uniform } from '../../package/runtimes/smoke.js';

/** The decoder's FavorAttention options of an entry (a decoder is causal). */
export function attentionOptions(entry) {
  return { ...entry.options, causal: true };
}

/** The FavorAttention.decoder() options of an entry. */
export function decoderOptions(entry) {
  return { batch: entry.batch, heads: entry.heads, valueDim: entry.valueDim };
}

/** Steps tokens [from, from + count) of the recipe through `decoder`; returns the FNV-1a (hex) of every output byte in order. */
export function continueRecipe(decoder, entry, from, count) {
  const rows = entry.batch * entry.heads;
  let hash = 0x811c9dc5;
  for (let t = from; t < from + count; t++) {
    const seed = entry.inputSeed + 3 * t;
    const out = decoder.step(uniform(rows * entry.options.dim, seed, 0.75), uniform(rows * entry.options.dim, seed + 1, 0.75),
      uniform(rows * entry.valueDim, seed + 2, 1));
    hash = fnv1a(bytesOf(out), hash);
  }
  return hex(hash);
}

/** FNV-1a (hex) of a file's bytes. */
export function fileChecksum(bytes) {
  return hex(fnv1a(bytes));
}

const hex = (h) => h.toString(16).padStart(8, '0');
