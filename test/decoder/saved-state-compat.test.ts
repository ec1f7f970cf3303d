// Saved-state compatibility: the golden FavorDecoder states in test/golden/decoder-states/ (written by
// performer-wasm 0.1.0 with scripts/make-golden-states.mjs, state format version 1) must load in this
// version and continue bit for bit (baseline build): the outputs of the next tokens have the checksum
// recorded when the state was saved, and equal those of a decoder that stepped every token of the recipe
// now. docs/edge.md states the promise this test enforces.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FavorAttention, init, PerformerError } from 'performer-wasm';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { attentionOptions, continueRecipe, decoderOptions, fileChecksum, type GoldenEntry } from '../golden/decoder-states/recipe.js';

const DIR = join(import.meta.dirname, '..', 'golden', 'decoder-states');
const manifest = JSON.parse(readFileSync(join(DIR, 'manifest.json'), 'utf8')) as { writtenBy: string; stateFormatVersion: number; states: GoldenEntry[] };

test.before(async () => {
  await init(undefined, { relaxedSimd: false });
});

test('the manifest covers several kernels, multi-head and batch > 1 states', () => {
  const kernels = new Set(manifest.states.map((s) => s.options.kernel));
  for (const kernel of ['softmax', 'softmax-hyperbolic', 'softmax-trig', 'relu']) assert.ok(kernels.has(kernel as never), kernel);
  assert.ok(manifest.states.some((s) => s.batch > 1));
  assert.ok(manifest.states.every((s) => s.heads > 1));
});

for (const entry of manifest.states) {
  test(`${entry.file} (${manifest.writtenBy}, format ${manifest.stateFormatVersion}): loads and continues bit for bit`, () => {
    const bytes = new Uint8Array(readFileSync(join(DIR, entry.file)));
    assert.is(fileChecksum(bytes), entry.stateChecksum, 'the golden file itself changed');
    const attn = new FavorAttention(attentionOptions(entry));
    const loaded = attn.decoderFromState(bytes);
    assert.is(loaded.position, entry.steps);
    assert.equal([loaded.batch, loaded.heads, loaded.valueDim], [entry.batch, entry.heads, entry.valueDim]);
    assert.is(continueRecipe(loaded, entry, entry.steps, entry.next), entry.nextChecksum, 'outputs after loading');

    // the same tokens stepped from scratch in this version give the same outputs
    const fresh = attn.decoder(decoderOptions(entry));
    continueRecipe(fresh, entry, 0, entry.steps);
    assert.is(continueRecipe(fresh, entry, entry.steps, entry.next), entry.nextChecksum, 'outputs from scratch');

    // a state saved by this version after continuing loads too
    const resaved = attn.decoderFromState(loaded.saveState());
    assert.is(resaved.position, entry.steps + entry.next);
    for (const d of [loaded, fresh, resaved]) d.dispose();
  });
}

test('a golden state refuses another configuration and a changed byte (INVALID_STATE)', () => {
  const entry = manifest.states[0]!;
  const bytes = new Uint8Array(readFileSync(join(DIR, entry.file)));
  const other = new FavorAttention(attentionOptions({ ...entry, options: { ...entry.options, seed: (entry.options.seed ?? 0) + 1 } }));
  assert.throws(() => other.decoderFromState(bytes), (e: unknown) => e instanceof PerformerError && e.code === 'INVALID_STATE' && /projection checksum/.test(e.message));
  const changed = bytes.slice();
  changed[60] ^= 1;
  assert.throws(() => new FavorAttention(attentionOptions(entry)).decoderFromState(changed), (e: unknown) => e instanceof PerformerError && e.code === 'INVALID_STATE' && /checksum mismatch/.test(e.message));
});

test.run();
