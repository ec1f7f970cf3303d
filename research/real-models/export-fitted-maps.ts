// Writes some heads' fitted hybrid maps from real-model-study.ts --save (JSON) as small files for a fast
// test (test/fit/real-heads.test.ts): per head NAME.projection.f32 (m × dim, little-endian float32) and, in
// manifest.json, the other options (features, kernel, causal, window, estimateLogScale, centerKeys).
//   node --import tsx research/real-models/export-fitted-maps.ts --fits /tmp/real-fits.json \
//     --heads l0h0,l0h1,l1h3 --out test/data/fitted-maps
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: flags } = parseArgs({ options: { fits: { type: 'string' }, heads: { type: 'string' }, out: { type: 'string' } } });
const fits = JSON.parse(readFileSync(flags.fits!, 'utf8'));
mkdirSync(flags.out!, { recursive: true });
const manifest: Record<string, unknown> = { producedBy: 'research/real-models/real-model-study.ts --save, then research/real-models/export-fitted-maps.ts', heads: {} };
for (const name of flags.heads!.split(',')) {
  const { dim, hybrid } = fits.heads[name];
  const { projection, ...rest } = hybrid;
  const bytes = Buffer.alloc(4 * projection.length);
  projection.forEach((x: number, i: number) => bytes.writeFloatLE(x, 4 * i));
  writeFileSync(join(flags.out!, `${name}.projection.f32`), bytes);
  (manifest.heads as Record<string, unknown>)[name] = { dim, projection: `${name}.projection.f32`, ...rest };
}
writeFileSync(join(flags.out!, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');
