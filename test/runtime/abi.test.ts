// The wasm ABI: src/runtime/abi.ts and src/runtime/descriptors.ts are generated from assembly/ by
// scripts/generate-abi.mjs and must be up to date; every export takes at most 8 parameters (a kernel reads
// descriptors, not long argument lists); descriptors are laid out as both sides read them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { generated, readDescriptors, readExports } from '../../scripts/generate-abi.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const MAX_PARAMETERS = 8;

test('the generated ABI files are up to date (npm run generate)', () => {
  for (const [file, text] of Object.entries(generated(root))) {
    assert.ok(readFileSync(root + file, 'utf8') === text, `${file} is stale: run npm run generate`);
  }
});

test(`every wasm export takes at most ${MAX_PARAMETERS} parameters`, () => {
  const exports = readExports(root);
  assert.ok(exports.length > 20, `${exports.length} exports read`);
  const long = exports.filter((e) => e.params.length > MAX_PARAMETERS).map((e) => `${e.name} (${e.file}): ${e.params.length}`);
  assert.equal(long, [], `exports with more than ${MAX_PARAMETERS} parameters`);
});

test('descriptor fields are 4 bytes each, in declaration order, with unique names', () => {
  const classes = readDescriptors(root);
  assert.ok(classes.some((c) => c.name === 'FeatureMap'), 'FeatureMap is defined');
  for (const c of classes) {
    c.fields.forEach((f, i) => assert.is(f.offset, 4 * i, `${c.name}.${f.name}`));
    assert.is(new Set(c.fields.map((f) => f.name)).size, c.fields.length, `${c.name}: unique field names`);
    assert.is(c.bytes, 4 * c.fields.length);
  }
});

test.run();
