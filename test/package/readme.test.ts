// Every fenced `js` / `ts` block of README.md and docs/*.md runs as written: each is written to a file of a
// fresh project where `performer-wasm` is the packed tarball (test/support/packed.ts) and run with Node
// (ts blocks through tsx). A block that throws or exits non-zero fails. Markers on the line before a fence:
//   <!-- run-as: name.cjs -->        run the block as this file (e.g. CommonJS)
//   <!-- not-run: why; covered by … -->  a block for a browser or another runtime; it must name the test that
//                                     exercises it instead (a test/….ts file named there must exist)
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT } from './runtimes/harness.ts';
import { codeBlocks } from '../support/markdown.ts';
import { installedProject } from '../support/packed.ts';

const pages = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
const blocks = pages.flatMap((page) => codeBlocks(page, readFileSync(join(ROOT, page), 'utf8')));
const tsx = import.meta.resolve('tsx/esm');
let project = '';

test.before(() => {
  project = installedProject(['@tensorflow']); // the training page's example imports @tensorflow/tfjs
});

test('the README has runnable examples: the quick start and the causal one at least', () => {
  assert.ok(blocks.filter((b) => b.page === 'README.md' && !b.notRun).length >= 3);
});

for (const [index, block] of blocks.entries()) {
  const name = `${block.page}:${block.line} (${block.lang})`;
  if (block.notRun) {
    test(`${name} is not run here: ${block.notRun}`, () => {
      assert.match(block.notRun!, /covered by/, `${name}: say which test covers it`);
      for (const file of block.notRun!.match(/test\/[\w./-]+\.ts/g) ?? []) assert.ok(existsSync(join(ROOT, file)), `${name}: ${file} does not exist`);
    });
    continue;
  }
  test(`${name} runs`, () => {
    const file = block.runAs ?? `block-${index}.${block.lang === 'ts' ? 'mts' : 'mjs'}`;
    writeFileSync(join(project, file), block.code);
    const args = block.lang === 'ts' ? ['--import', tsx, file] : [file];
    const r = spawnSync(process.execPath, args, { cwd: project, encoding: 'utf8', timeout: 120_000 });
    assert.is(r.status, 0, `${name} failed (exit ${r.status}):\n${r.stderr}\n--- the block:\n${block.code}`);
  });
}

test.run();
