// The type matrix: a consumer project (test/package/types/*.ts, and the README's TypeScript examples as a user pastes
// them) compiled against the packed tarball in each setting a user may have: strict with module node16,
// nodenext and bundler resolution; no DOM lib (a pure ES lib, no @types/node; the README examples need
// `console`, so they are compiled in the DOM settings only); skipLibCheck false everywhere (the package's own
// .d.ts are checked); and the oldest TypeScript the package supports (4.9.5, the devDependency typescript-old),
// with and without the DOM lib. Each setting is one program of the TypeScript API, all in this process.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type * as TS from 'typescript';
import { ROOT } from './runtimes/harness.ts';
import { codeBlocks } from '../support/markdown.ts';
import { installedProject } from '../support/packed.ts';

/** The oldest TypeScript the README promises. */
export const OLDEST_TYPESCRIPT = '4.9.5';

const require = createRequire(import.meta.url);
const compilers: Record<'current' | 'oldest', typeof TS> = {
  current: require('typescript') as typeof TS,
  oldest: require('typescript-old') as typeof TS,
};

interface Setting { name: string; compiler: keyof typeof compilers; options: Record<string, unknown>; files: string[] }

const node16 = { module: 'node16', moduleResolution: 'node16' };
const nodenext = { module: 'nodenext', moduleResolution: 'nodenext' };
const bundler = { module: 'esnext', moduleResolution: 'bundler' };
const dom = { lib: ['es2022', 'dom'], types: [] };
const pureEs = { lib: ['es2022'], types: [] };
// the README's TypeScript examples, as a user pastes them (console needs a lib that has it: DOM here)
const readmeExamples = codeBlocks('README.md', readFileSync(join(ROOT, 'README.md'), 'utf8'))
  .filter((b) => b.lang === 'ts' && !b.notRun)
  .map((b, i) => ({ file: `readme-${i + 1}.ts`, code: b.code }));
const both = ['consumer.ts', 'web.ts', ...readmeExamples.map((e) => e.file)];

const settings: Setting[] = [
  { name: 'strict, nodenext, DOM', compiler: 'current', options: { ...nodenext, ...dom }, files: both },
  { name: 'strict, node16, DOM', compiler: 'current', options: { ...node16, ...dom }, files: both },
  { name: 'strict, bundler, DOM', compiler: 'current', options: { ...bundler, ...dom }, files: both },
  { name: 'strict, nodenext, no DOM lib (ES2022 only, no @types)', compiler: 'current', options: { ...nodenext, ...pureEs }, files: ['consumer.ts'] },
  { name: 'strict, bundler, no DOM lib', compiler: 'current', options: { ...bundler, ...pureEs }, files: ['consumer.ts'] },
  { name: `TypeScript ${OLDEST_TYPESCRIPT}, node16, DOM`, compiler: 'oldest', options: { ...node16, ...dom }, files: both },
  { name: `TypeScript ${OLDEST_TYPESCRIPT}, node16, no DOM lib`, compiler: 'oldest', options: { ...node16, ...pureEs }, files: ['consumer.ts'] },
];

let project = '';
test.before(() => {
  project = installedProject();
  mkdirSync(join(project, 'src'));
  for (const file of ['consumer.ts', 'web.ts']) copyFileSync(join(ROOT, 'test', 'package', 'types', file), join(project, 'src', file));
  for (const { file, code } of readmeExamples) writeFileSync(join(project, 'src', file), code);
});

test('the README has TypeScript examples to compile', () => {
  assert.ok(readmeExamples.length >= 2);
});

test(`the oldest supported TypeScript is installed as typescript-old (${OLDEST_TYPESCRIPT})`, () => {
  assert.is(compilers.oldest.version, OLDEST_TYPESCRIPT);
});

for (const setting of settings) {
  test(`types compile: ${setting.name}, skipLibCheck false`, () => {
    const ts = compilers[setting.compiler];
    const config = ts.parseJsonConfigFileContent(
      { compilerOptions: { strict: true, noEmit: true, target: 'es2022', skipLibCheck: false, ...setting.options }, files: setting.files.map((f) => `src/${f}`) },
      ts.sys,
      project,
    );
    assert.equal(config.errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')), [], 'tsconfig');
    const program = ts.createProgram(config.fileNames, config.options);
    const errors = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file ? `${d.file.fileName.replace(project, '')}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}: ` : '';
      return `${where}${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    assert.equal(errors, [], `${ts.version}, ${setting.name}`);
    // the package's own declarations were part of the program (so skipLibCheck: false checked them)
    assert.ok(program.getSourceFiles().some((f) => f.fileName.includes('node_modules/performer-wasm/dist/index.d.ts')));
  });
}

test.run();
