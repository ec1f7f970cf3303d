// Writes the golden decoder states of this version into test/golden/decoder-states/ (not run by the
// tests; run once per saved-state format, after `npm run build`):
//   node scripts/make-golden-states.mjs [--force]
// Each entry: a FavorDecoder (baseline build) steps `steps` tokens of the recipe (recipe.js), saves
// its state to <file>, then steps `next` more tokens; manifest.json records the options, the file's
// checksum and the checksum of those next outputs. test/decoder/saved-state-compat.test.ts loads every file
// with the package under test and must continue it bit for bit. The files define what later versions
// must keep loading: never regenerate them for an existing format (--force is for a deliberate break).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FavorAttention, init } from 'performer-wasm';
import { attentionOptions, continueRecipe, decoderOptions, fileChecksum } from '../test/golden/decoder-states/recipe.js';

const ROOT = join(import.meta.dirname, '..');
const OUT = join(ROOT, 'test', 'golden', 'decoder-states');
const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

// small shapes with odd sizes: m not a multiple of 4, valueDim ≠ dim, batch > 1 once
const ENTRIES = [
  { file: 'softmax.pwds', options: { dim: 8, features: 12, kernel: 'softmax', seed: 101 }, batch: 1, heads: 3, valueDim: 5, inputSeed: 1000, steps: 6, next: 4 },
  { file: 'softmax-hyperbolic.pwds', options: { dim: 8, features: 10, kernel: 'softmax-hyperbolic', seed: 102 }, batch: 1, heads: 2, valueDim: 8, inputSeed: 2000, steps: 5, next: 4 },
  { file: 'softmax-trig.pwds', options: { dim: 6, features: 9, kernel: 'softmax-trig', seed: 103 }, batch: 1, heads: 2, valueDim: 3, inputSeed: 3000, steps: 7, next: 4 },
  { file: 'relu.pwds', options: { dim: 7, features: 16, kernel: 'relu', seed: 104 }, batch: 2, heads: 2, valueDim: 4, inputSeed: 4000, steps: 4, next: 4 },
];

const manifestPath = join(OUT, 'manifest.json');
if (existsSync(manifestPath) && !process.argv.includes('--force')) {
  console.error(`${manifestPath} exists: the golden states define what later versions must load. Pass --force to replace them deliberately.`);
  process.exit(1);
}
await init(undefined, { relaxedSimd: false });
mkdirSync(OUT, { recursive: true });
const states = [];
for (const entry of ENTRIES) {
  const attn = new FavorAttention(attentionOptions(entry));
  const decoder = attn.decoder(decoderOptions(entry));
  continueRecipe(decoder, entry, 0, entry.steps);
  const bytes = decoder.saveState();
  const nextChecksum = continueRecipe(decoder, entry, entry.steps, entry.next);
  decoder.dispose();
  writeFileSync(join(OUT, entry.file), bytes);
  states.push({ ...entry, stateChecksum: fileChecksum(bytes), nextChecksum });
  console.log(`${entry.file}: ${bytes.length} bytes, next outputs ${nextChecksum}`);
}
const manifest = {
  about: 'Golden FavorDecoder saved states (scripts/make-golden-states.mjs); inputs from recipe.js; checksums are FNV-1a, baseline build.',
  writtenBy: `performer-wasm ${version}`,
  stateFormatVersion: readFileSync(join(OUT, ENTRIES[0].file)).readUInt16LE(4), // bytes 4–5 of a state (src/decoder-state.ts)
  states,
};
writeFileSync(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
