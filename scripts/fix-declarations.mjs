// Rewrites the relative `.ts` specifiers of the emitted declarations (dist/**/*.d.ts) to `.js`. The sources
// import `./x.ts` (allowImportingTsExtensions); tsc's rewriteRelativeImportExtensions rewrites them in the
// emitted JavaScript but not in declaration files, and a consumer's TypeScript before 5.0 (or without
// allowImportingTsExtensions) rejects `.ts` specifiers in a .d.ts. Run by `npm run build:ts` after tsc.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const RELATIVE_TS = /((?:from|import)\s*\(?\s*['"])(\.{1,2}\/[^'"]+?)\.ts(['"])/g;

async function* declarations(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* declarations(path);
    else if (entry.name.endsWith('.d.ts')) yield path;
  }
}

let changed = 0;
for await (const file of declarations(process.argv[2] ?? 'dist')) {
  const text = await readFile(file, 'utf8');
  const fixed = text.replace(RELATIVE_TS, '$1$2.js$3');
  if (fixed !== text) {
    await writeFile(file, fixed);
    changed++;
  }
}
console.log(`fix-declarations: .ts → .js specifiers in ${changed} declaration files`);
