// The accuracy advisor (`performer-bench accuracy --data DIR`, bench/modes/advisor.ts) end to end on the
// committed sample of real heads (test/data/heads: Universal Sentence Encoder lite, L = 128) at tiny settings:
// exit code, the JSON tables and their fields, the SVG chart, and its errors against float64 recomputations.
// Columns whose library options this build lacks (window, centerKeys, learned maps) must say 'n/a'; once
// they exist they must hold finite errors. It checks that the advisor works, not how fast anything is.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { centered, readHeads } from '../../bench/heads.ts';
import { FavorAttention, init } from '../../src/index.ts';
import { referenceAttention } from '../reference/attention.ts';
import { favorReference } from '../reference/favor.ts';
import { assertBuilt, ROOT } from '../package/runtimes/harness.ts';

type Cell = string | number;
interface Report { tables: { mode: string; title: string; rows: Record<string, Cell>[] }[] }

const DATA = join(ROOT, 'test/data/heads');
const CLI = join(ROOT, 'dist/bench/cli.js');
const TINY = ['accuracy', '--data', DATA, '--head', 'l0h0,l0h1', '--features', '16', '--fit-features', '16', '--windows', '4', '--draws', '1', '--fit-steps', '3', '--seq', '128', '--time', '0'];

test.before(async () => {
  assertBuilt();
  await init(undefined, { relaxedSimd: false }); // the baseline build, as every test file (support/setup.ts): the files after this one compare bits
});

const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

type TestHead = ReturnType<typeof readHeads>['heads'][number];

/** Float64 exact attention of one sequence (test/reference/attention.ts). */
const exactOf = (head: TestHead, s: TestHead['sequences'][number], k = s.k) =>
  referenceAttention(s.q, k, s.v, { queries: s.length, dim: head.dim, valueDim: head.valueDim });

/** sqrt(Σ‖x − ref‖² / Σ‖ref‖²) over the held-out sequences of a head, x and ref given per sequence. */
function heldOutError(head: TestHead, answer: (s: TestHead['sequences'][number]) => ArrayLike<number>,
                      reference: (s: TestHead['sequences'][number]) => ArrayLike<number> = (s) => exactOf(head, s)): number {
  let num = 0;
  let den = 0;
  for (const s of head.sequences.filter((x) => x.split === 'held-out')) {
    const [x, y] = [answer(s), reference(s)];
    for (let i = 0; i < y.length; i++) [num, den] = [num + (x[i] - y[i]) ** 2, den + y[i] ** 2];
  }
  return Math.sqrt(num / den);
}

test('performer-bench accuracy --data: JSON tables, recommendations, SVG; errors match float64', () => {
  const dir = mkdtempSync(join(tmpdir(), 'performer-advisor-'));
  try {
    const svg = join(dir, 'advisor.svg');
    const stdout = execFileSync(process.execPath, [CLI, ...TINY, '--json', '--svg', svg], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const report = JSON.parse(stdout) as Report;
    const table = (mode: string) => {
      const t = report.tables.find((x) => x.mode === mode);
      assert.ok(t, `no ${mode} table in ${report.tables.map((x) => x.mode)}`);
      return t!;
    };
    const errors = table('accuracy-data');
    const data = readHeads(DATA, ['l0h0', 'l0h1']);
    for (const head of data.heads) {
      const rows = errors.rows.filter((r) => r.head === head.name);
      const settings = rows.map((r) => r.setting);
      assert.equal(settings, ['mean(V)', 'FAVOR+', 'FAVOR+, centred', 'FAVOR+, w=4, centred', 'learned, centred', 'learned, w=4, centred'], head.name);
      // mean(V): every query answered by the mean value, against float64 exact attention (float32 data: 1e-5)
      const meanV = heldOutError(head, (s) => {
        const avg = new Float64Array(head.valueDim);
        for (let j = 0; j < s.length; j++) for (let t = 0; t < head.valueDim; t++) avg[t] += s.v[j * head.valueDim + t] / s.length;
        const x = new Float64Array(s.length * head.valueDim);
        for (let i = 0; i < s.length; i++) x.set(avg, i * head.valueDim);
        return x;
      });
      const row = (setting: string) => rows.find((r) => r.setting === setting)!;
      assert.ok(Math.abs((row('mean(V)').m16 as number) - meanV) <= 1e-5 * meanV, `${head.name} mean(V) ${row('mean(V)').m16} vs float64 ${meanV}`);
      // FAVOR+ (draw 0 = seed 0) against the float64 estimator with the same projection: the advisor's error is
      // the estimator's, up to float32 rounding of the pass (≤ 1e-4 relative to the error itself)
      const w = new FavorAttention({ dim: head.dim, features: 16, seed: 0 }).projection;
      const favor64 = (s: TestHead['sequences'][number], k: Float32Array) =>
        favorReference({ kernel: 'softmax', dim: head.dim, w }, s.q, k, s.v, { batch: 1, heads: 1, queries: s.length, keys: s.length, dim: head.dim, valueDim: head.valueDim });
      for (const [setting, keys] of [['FAVOR+', (s: TestHead['sequences'][number]) => s.k], ['FAVOR+, centred', (s: TestHead['sequences'][number]) => centered(s.k, head.dim)]] as const) {
        const expected = heldOutError(head, (s) => favor64(s, keys(s)));
        const got = row(setting).m16 as number;
        assert.ok(finite(got) && Math.abs(got - expected) <= 1e-4 * expected, `${head.name} ${setting}: ${got} vs float64 ${expected}`);
      }
      for (const setting of ['FAVOR+, w=4, centred', 'learned, centred', 'learned, w=4, centred']) {
        const e = row(setting).m16;
        assert.ok(e === 'n/a' || e === 'fit failed' || finite(e), `${head.name} ${setting}: ${e}`);
      }
      assert.not.ok(rows.some((r) => r.m16 === 'fit failed'), `${head.name}: a learned map failed to fit (${errors.title})`);
      // centring is exact for softmax: the centred keys' exact attention is the plain one (float32 rounding only)
      const c = heldOutError(head, (s) => exactOf(head, s, centered(s.k, head.dim)));
      assert.ok(c < 1e-5, `${head.name}: centring changed exact attention by ${c}`);
    }
    const times = table('accuracy-data-time');
    for (const setting of ['exact', 'mean(V)', 'FAVOR+', 'FAVOR+, centred']) {
      const r = times.rows.find((x) => x.setting === setting);
      assert.ok(r && finite(r.m16) && r.m16 > 0, `time of ${setting}: ${JSON.stringify(r)}`);
    }
    const advice = table('accuracy-data-advice');
    assert.equal(advice.rows.map((r) => r.head), ['l0h0', 'l0h1']);
    for (const r of advice.rows) {
      assert.ok(typeof r.recommendation === 'string' && r.recommendation !== 'none', `${r.head}: ${r.recommendation}`);
      assert.ok(finite(r.error) && finite(r.usPerToken) && r.usPerToken > 0 && finite(r.exactUsPerToken), JSON.stringify(r));
      assert.ok(r.withinTarget === 'yes' ? (r.error as number) <= (r.target as number) : r.withinTarget === 'no', JSON.stringify(r));
      assert.ok(Math.abs((r.target as number) - 0.5 * (r.meanVError as number)) < 1e-12, 'target = 0.5 × mean(V) by default');
    }
    const chart = readFileSync(join(dir, 'advisor-advisor-l0h1.svg'), 'utf8');
    assert.ok(chart.startsWith('<svg') && chart.includes('</svg>') && chart.includes('mean(V)'), 'an SVG chart per head');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('performer-bench accuracy --data: a missing folder or head is a usage error (exit 2), before any timing', () => {
  const missing = spawnSync(process.execPath, [CLI, 'accuracy', '--data', join(ROOT, 'test/data/no-such-heads')], { cwd: ROOT, encoding: 'utf8' });
  assert.is(missing.status, 2);
  assert.match(missing.stderr, /cannot read manifest\.json/);
  const head = spawnSync(process.execPath, [CLI, 'accuracy', '--data', DATA, '--head', 'l9h9'], { cwd: ROOT, encoding: 'utf8' });
  assert.is(head.status, 2);
  assert.match(head.stderr, /no head named l9h9/);
});

test.run();
