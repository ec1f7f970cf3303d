// Copies the wasm builds next to the emitted JavaScript: dist/runtime/edge-source.js imports '../performer.wasm'
// and '../performer-relaxed.wasm' (the workerd / edge-light entry), and the package exports
// './performer.wasm' from dist/ for bundlers, each with a declaration (scripts/wasm-module.d.ts).
// Run by `npm run build:ts` after tsc.
import { copyFile, mkdir } from 'node:fs/promises';

const files = ['performer.wasm', 'performer-relaxed.wasm'];
await mkdir('dist', { recursive: true });
for (const file of files) {
  await copyFile(`build/${file}`, `dist/${file}`);
  await copyFile('scripts/wasm-module.d.ts', `dist/${file}.d.ts`);
}
