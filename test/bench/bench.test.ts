// The benchmark CLI (dist/bench/cli.js, the package's bin) end to end at tiny sizes and budgets: every mode
// prints JSON tables with finite, positive timings; --svg writes the charts; --peers times every peer in
// alternation with ours. It checks that the CLI works, not how fast anything is.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { assertBuilt, ROOT } from '../package/runtimes/harness.ts';

interface Report { build: string; tables: { mode: string; rows: Record<string, unknown>[] }[] }

const TINY = ['--json', '--time', '0.01', '--seq', '64', '--heads', '1', '--dim', '8', '--features', '12', '--draws', '2', '--prefill', '32'];

function bench(args: string[]): Report {
  const stdout = execFileSync(process.execPath, [join(ROOT, 'dist/bench/cli.js'), ...args], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(stdout) as Report;
}

const positive = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x > 0;

test.before(() => assertBuilt());

test('performer-bench: every mode, --json and --svg', () => {
  const dir = mkdtempSync(join(tmpdir(), 'performer-bench-'));
  try {
    const svg = join(dir, 'chart.svg');
    const report = bench(['gemm', 'exact', 'favor', 'causal', 'decode', 'accuracy', 'train', ...TINY, '--svg', svg]);
    // the CLI runs the relaxed build where the engine validates it (Node 22 and later), the baseline one elsewhere
    const relaxed = WebAssembly.validate(readFileSync(join(ROOT, 'dist/performer-relaxed.wasm')));
    assert.is(report.build, relaxed ? 'relaxed' : 'baseline');
    const modes = report.tables.map((t) => t.mode);
    for (const mode of ['gemm', 'exact', 'favor', 'causal', 'decode', 'accuracy', 'train']) assert.ok(modes.includes(mode), `no ${mode} table in ${modes}`);
    for (const table of report.tables) {
      assert.ok(table.rows.length > 0, `${table.mode}: no rows`);
      for (const row of table.rows) {
        const times = Object.entries(row).filter(([key]) => /MedianMs$|^medianMs$/.test(key));
        for (const [key, value] of times) assert.ok(positive(value), `${table.mode}: ${key} = ${String(value)}`);
      }
    }
    const decode = report.tables.find((t) => t.mode === 'decode')!;
    assert.ok(decode.rows.some((r) => String(r.op).endsWith('last output') && positive(r.vsAll)), 'the last-output prefill row, timed against every output');
    const gemm = report.tables.find((t) => t.mode === 'gemm')!;
    assert.ok(gemm.rows.some((r) => r.kernel === 'gemm_nn_packed' && positive(r.gflops)), 'the packed GEMM row');
    const charts = ['time', 'accuracy'].map((chart) => readFileSync(join(dir, `chart-${chart}.svg`), 'utf8'));
    for (const chart of charts) assert.ok(chart.startsWith('<svg') && chart.includes('</svg>'), 'an SVG chart');
    // every series has a name for people: no row field (camelCase) leaks into the legend as a series
    const names = [...charts[0].matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
    const raw = names.filter((name) => /^[a-z]+[A-Z]\w*(,|$)/.test(name));
    assert.equal(raw, [], `series named after row fields: ${raw}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('performer-bench --peers: each peer beside ours, with a ratio and an error', () => {
  const report = bench(['favor', ...TINY, '--peers', '--exact-max', '0']);
  const favor = report.tables.find((t) => t.mode === 'peers-favor');
  assert.ok(favor, `no peers-favor table in ${report.tables.map((t) => t.mode)}`);
  for (const row of favor.rows) {
    assert.not.ok(row.failed, `${String(row.peer)} failed: ${String(row.failed)}`);
    assert.ok(positive(row.medianMs) && positive(row.oursMs) && positive(row.ratio), `${String(row.peer)}: ${JSON.stringify(row)}`);
    assert.ok(positive(row.error), `${String(row.peer)}: error ${String(row.error)}`);
  }
  const names = favor.rows.map((r) => String(r.peer));
  for (const peer of ['tfjs-backend-wasm', 'onnxruntime-web', 'onnxruntime-node', 'ruvector']) {
    assert.ok(names.some((n) => n.startsWith(peer)), `${peer} missing from ${names}`);
  }
});

test('performer-bench causal and decode --peers: onnxruntime LinearAttention agrees with ours, then is timed', () => {
  const report = bench(['causal', 'decode', ...TINY, '--peers', '--exact-max', '0']);
  for (const [mode, time] of [['peers-causal', 'medianMs'], ['peers-decode', 'usPerStep']]) {
    const table = report.tables.find((t) => t.mode === mode);
    assert.ok(table, `no ${mode} table in ${report.tables.map((t) => t.mode)}`);
    for (const row of table.rows) {
      assert.not.ok(row.failed, `${mode} ${String(row.peer)} failed: ${String(row.failed)}`);
      assert.ok(positive(row[time]) && positive(row.ratio), `${mode} ${String(row.peer)}: ${JSON.stringify(row)}`);
      assert.ok(positive(row.agreement) && (row.agreement as number) <= 1e-4, `${mode} ${String(row.peer)}: agreement ${String(row.agreement)}`);
    }
    const names = table.rows.map((r) => String(r.peer));
    for (const peer of ['onnxruntime-web', 'onnxruntime-node']) assert.ok(names.some((n) => n.startsWith(peer)), `${mode}: ${peer} missing from ${names}`);
  }
});

test('performer-bench --threads 2: the threaded pass beside the same call on one thread', () => {
  const report = bench(['favor', ...TINY, '--threads', '2', '--exact-max', '0']);
  const favor = report.tables.find((t) => t.mode === 'favor')!;
  for (const row of favor.rows) assert.ok(positive(row.threadSpeedup) && positive(row.favorMedianMs), JSON.stringify(row));
});

test.run();
