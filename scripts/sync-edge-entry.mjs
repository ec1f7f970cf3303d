// Rewrites src/index-edge.ts from src/index.ts: the same exports, with the wasm imported as modules
// (./edge-source.ts) instead of inlined (./inline-source.ts). Run it after changing the exports of
// src/index.ts; test/package.test.ts fails until the two entries export the same names.
import { readFile, writeFile } from 'node:fs/promises';

const index = await readFile('src/index.ts', 'utf8');
if (!index.includes("import './inline-source.ts';")) throw new Error("src/index.ts no longer imports './inline-source.ts'");
const header = [
  '// performer-wasm for workerd / edge-light (the `workerd` and `edge-light` export conditions): the same',
  '// public surface as index.ts, with the wasm imported as modules (edge-source.ts) instead of inlined.',
  '// Keep the export lines identical to index.ts (test/package.test.ts checks it; scripts/sync-edge-entry.mjs',
  '// rewrites this file from index.ts).',
];
const body = index
  .split('\n')
  .filter((line, i) => !(i === 0 && line.startsWith('//')))
  .join('\n')
  .replace("import './inline-source.ts';", "import './edge-source.ts';");
await writeFile('src/index-edge.ts', `${header.join('\n')}\n${body}`);
console.log('src/index-edge.ts: rewritten from src/index.ts');
