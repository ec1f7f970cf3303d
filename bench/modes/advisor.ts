// The accuracy advisor: `performer-bench accuracy --data DIR`. For every head of a folder of real
// attention inputs (bench/heads.ts; research/real-models/dump-heads.ts writes one), the error against exact attention on
// the held-out sequences of: mean(V); FAVOR+ at each m; with the keys centred; with an exact window of ±w
// (hybrid attention, docs/design.md §1b); with a feature map fitted on the train sequences; the time per token
// of each setting at a serving length; and the cheapest setting within a target error.
//
// The window, centerKeys and learned-map columns use options that a build may not have yet: each is
// detected once (a constructor that throws UNKNOWN_OPTION or INVALID_OPTION, a missing fitFeatureMap) and is then 'n/a' with a
// note. Without the centerKeys option the advisor centres the keys itself (exactly what centerKeys: true
// does in a bidirectional call: subtract the call's mean key); its time then excludes that O(L·d) step.
import * as performer from 'performer-wasm';
import { exactAttention, FavorAttention, PerformerError, type FavorAttentionOptions } from 'performer-wasm';
import { KERNEL_NAMES } from 'performer-wasm/internal';
import { errorSums, randn } from '../data.ts';
import { centered, readHeads, type Head, type HeadsData, type HeadSequence } from '../heads.ts';
import { intFlag, intList, UsageError, type Context, type Flag, type FlagValues } from '../mode.ts';
import type { Chart, Charted, Series } from '../svg.ts';
import type { Column, Row, Table } from '../table.ts';

const LEARNED_KERNEL = 'softmax-hyperbolic-normalized';
/** Recommendation: settings whose times are within this fraction of the cheapest one's count as equally cheap. */
const TIE = 0.1;
const DEFAULTS = { features: [64, 128, 256, 512, 1024], fitFeatures: [64, 128], windows: [0, 2, 4, 8, 16, 32], target: 0.5, draws: 3, fitSteps: 200, serve: 4096 };

export const advisorFlags: Record<string, Flag> = {
  data: { type: 'string', value: '<dir>', help: 'accuracy: the advisor on real heads: a folder with manifest.json (docs/accuracy-data.md)' },
  head: { type: 'string', value: '<names>', help: 'accuracy --data: only these heads, comma-separated' },
  windows: { type: 'string', value: '<list>', help: `accuracy --data: exact windows ±w (default ${DEFAULTS.windows.join(',')}; 0 = none)` },
  target: { type: 'string', value: '<x>', help: `accuracy --data: the target error, a fraction of mean(V)'s (default ${DEFAULTS.target})` },
  'fit-steps': { type: 'string', value: '<n>', help: `accuracy --data: Adam steps of the learned maps (default ${DEFAULTS.fitSteps}; 0: none)` },
  'fit-features': { type: 'string', value: '<list>', help: `accuracy --data: the m of the learned maps (default ${DEFAULTS.fitFeatures.join(',')}; fits are slow)` },
};

export const advisorNotes = [
  `With --data DIR: the advisor. Defaults: --features ${DEFAULTS.features.join(',')} --windows ${DEFAULTS.windows.join(',')} --target ${DEFAULTS.target}`,
  `  --draws ${DEFAULTS.draws} (projection seeds 0 … draws−1) --fit-steps ${DEFAULTS.fitSteps} --fit-features ${DEFAULTS.fitFeatures.join(',')}`,
  `  --seq ${DEFAULTS.serve} (the serving length of the timings).`,
  '  Error = sqrt(Σ‖out − exact‖² / Σ‖exact‖²) over the held-out sequences of a head, mean over the draws; exact',
  '  attention is the library\'s exactAttention. Windows are centred (k − mean k, softmax-invariant). Learned maps',
  `  (${LEARNED_KERNEL}) are fitted on the train sequences once per m, centred, without a window, and then also`,
  '  used with each window (not refitted). Time per token: one head at L = --seq, dim of the head, random inputs',
  '  (the cost does not depend on the values). Recommendation: the cheapest setting (time per token) whose error',
  '  is ≤ target × mean(V)\'s error (times within 10 % of the cheapest count as a tie, broken by the error); else',
  '  the most accurate one.',
];

export interface AdvisorOptions {
  /** The heads, read (and checked) while parsing the flags, before anything is timed. */
  data: HeadsData;
  features: number[];
  fitFeatures: number[];
  windows: number[];
  target: number;
  draws: number;
  fitSteps: number;
  serve: number;
}

export function parseAdvisor(flags: FlagValues): AdvisorOptions {
  const target = flags.target === undefined ? DEFAULTS.target : Number(flags.target);
  if (!(target > 0) || !Number.isFinite(target)) throw new UsageError(`--target takes a number > 0 (got "${flags.target}")`);
  const windows = flags.windows === undefined ? DEFAULTS.windows : String(flags.windows).split(',').map((s) => Number(s.trim()));
  if (windows.some((w) => !Number.isInteger(w) || w < 0)) throw new UsageError(`--windows takes integers ≥ 0, comma-separated (got "${flags.windows}")`);
  const fitSteps = flags['fit-steps'] === undefined ? DEFAULTS.fitSteps : Number(flags['fit-steps']);
  if (!Number.isInteger(fitSteps) || fitSteps < 0) throw new UsageError(`--fit-steps takes an integer ≥ 0 (got "${flags['fit-steps']}")`);
  return {
    data: readHeads(String(flags.data), flags.head === undefined ? undefined : String(flags.head).split(',').map((s) => s.trim())),
    features: intList(flags, 'features', DEFAULTS.features),
    fitFeatures: intList(flags, 'fit-features', DEFAULTS.fitFeatures),
    windows: [...new Set([0, ...windows])].sort((a, b) => a - b),
    target,
    draws: intFlag(flags, 'draws', DEFAULTS.draws),
    fitSteps,
    serve: intList(flags, 'seq', [DEFAULTS.serve])[0],
  };
}

// ---------------------------------------------------------------- what this build can do

type FitFeatureMap = (samples: { q: Float32Array; k: Float32Array; v: Float32Array; length: number }[], options: Record<string, unknown>) => { options?: Record<string, unknown> } & Record<string, unknown>;

interface Capabilities {
  window: boolean;
  centerKeys: boolean;
  fit: FitFeatureMap | null;
  notes: string[];
}

/** Whether the FavorAttention constructor takes these options (UNKNOWN_OPTION or INVALID_OPTION: no). */
function accepts(options: Record<string, unknown>): boolean {
  try {
    new FavorAttention({ dim: 4, features: 4, ...options } as FavorAttentionOptions);
    return true;
  } catch (error) {
    if (error instanceof PerformerError && (error.code === 'UNKNOWN_OPTION' || error.code === 'INVALID_OPTION')) return false;
    throw error;
  }
}

export function capabilities(): Capabilities {
  const notes: string[] = [];
  const window = accepts({ window: 2 });
  if (!window) notes.push('window: n/a (this build\'s FavorAttention has no `window` option: hybrid attention is not merged)');
  const centerKeys = accepts({ centerKeys: true });
  if (!centerKeys) notes.push('centred: the keys are centred by the advisor (this build has no `centerKeys` option); its time excludes the centring');
  const candidate = (performer as unknown as Record<string, unknown>).fitFeatureMap;
  const learned = typeof candidate === 'function' && (KERNEL_NAMES as string[]).includes(LEARNED_KERNEL);
  if (!learned) notes.push(`learned: n/a (this build has no fitFeatureMap / '${LEARNED_KERNEL}' kernel: learned feature maps are not merged)`);
  return { window, centerKeys, fit: learned ? (candidate as FitFeatureMap) : null, notes };
}

// ---------------------------------------------------------------- settings

interface Setting {
  family: string;
  m: number;
  window: number;
  centred: boolean;
  learned: boolean;
}

function familyName(window: number, centred: boolean, learned: boolean): string {
  const parts = [learned ? 'learned' : 'FAVOR+', window ? `w=${window}` : '', centred ? 'centred' : ''].filter(Boolean);
  return parts.join(', ');
}

/** The grid: FAVOR+ plain and centred at each m, then centred with each window, then the learned maps (centred, each window). */
function settingsOf(o: AdvisorOptions): Setting[] {
  const families: Omit<Setting, 'm'>[] = [{ family: familyName(0, false, false), window: 0, centred: false, learned: false }];
  for (const learned of [false, true]) {
    if (learned && o.fitSteps === 0) continue;
    for (const window of o.windows) families.push({ family: familyName(window, true, learned), window, centred: true, learned });
  }
  return families.flatMap((f) => (f.learned ? o.fitFeatures : o.features).map((m) => ({ ...f, m })));
}

function available(s: Setting, caps: Capabilities): string | null {
  if (s.window && !caps.window) return 'n/a';
  if (s.learned && !caps.fit) return 'n/a';
  return null;
}

/** The FavorAttention options of a setting (fitted: the learned map's options for this m, which keep their own key shift). */
function optionsOf(head: Head, s: Setting, seed: number, caps: Capabilities, fitted?: Record<string, unknown>): FavorAttentionOptions {
  return {
    dim: head.dim,
    features: s.m,
    ...(fitted ?? { seed }),
    ...(s.window ? { window: s.window } : {}),
    ...(s.centred && caps.centerKeys && !fitted?.centerKeys ? { centerKeys: true } : {}),
  } as FavorAttentionOptions;
}

// ---------------------------------------------------------------- errors

/** sqrt(Σ‖x − exact‖² / Σ‖exact‖²) over sequences. */
function relativeError(outs: Float32Array[], exact: Float32Array[]): number {
  let num = 0;
  let den = 0;
  outs.forEach((x, i) => {
    const e = errorSums(x, exact[i]);
    num += e.num;
    den += e.den;
  });
  return Math.sqrt(num / den);
}

function meanOfValues(s: HeadSequence, dv: number): Float32Array {
  const avg = new Float64Array(dv);
  for (let j = 0; j < s.length; j++) for (let t = 0; t < dv; t++) avg[t] += s.v[j * dv + t] / s.length;
  const out = new Float32Array(s.length * dv);
  for (let i = 0; i < s.length; i++) for (let t = 0; t < dv; t++) out[i * dv + t] = avg[t];
  return out;
}

const shapeOf = (head: Head, length: number) => ({ queries: length, dim: head.dim, valueDim: head.valueDim });

function favorOutputs(head: Head, held: HeadSequence[], attn: FavorAttention, centredKeys: Float32Array[] | null): Float32Array[] {
  return held.map((s, i) => attn.forward(s.q, centredKeys ? centredKeys[i] : s.k, s.v, shapeOf(head, s.length)));
}

// ---------------------------------------------------------------- the run

interface HeadResult {
  head: Head;
  meanError: number;
  errors: Map<Setting, number | string>;
  fitNotes: string[];
}

function evaluateHead(head: Head, settings: Setting[], o: AdvisorOptions, caps: Capabilities): HeadResult {
  const held = head.sequences.filter((s) => s.split === 'held-out');
  const train = head.sequences.filter((s) => s.split === 'train');
  const exact = held.map((s) => exactAttention(s.q, s.k, s.v, shapeOf(head, s.length)));
  const meanError = relativeError(held.map((s) => meanOfValues(s, head.valueDim)), exact);
  const manualCentring = caps.centerKeys ? null : held.map((s) => centered(s.k, head.dim));
  const fitted = new Map<number, Record<string, unknown> | string>();
  const fitNotes: string[] = [];
  const errors = new Map<Setting, number | string>();
  for (const s of settings) {
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K[accuracy --data] ${head.name}: ${s.family}, m=${s.m}${s.learned && !fitted.has(s.m) ? ' (fitting)' : ''} …`);
    const missing = available(s, caps);
    if (missing) {
      errors.set(s, missing);
      continue;
    }
    if (s.learned && !fitted.has(s.m)) fitted.set(s.m, fitMap(head, train, s.m, o, caps, fitNotes));
    const fit = s.learned ? fitted.get(s.m)! : undefined;
    if (typeof fit === 'string') {
      errors.set(s, fit);
      continue;
    }
    const draws = s.learned ? 1 : o.draws; // a fitted map is one matrix: nothing to redraw
    let sum = 0;
    for (let seed = 0; seed < draws; seed++) {
      const attn = new FavorAttention(optionsOf(head, s, seed, caps, fit));
      sum += relativeError(favorOutputs(head, held, attn, s.centred ? manualCentring : null), exact);
    }
    errors.set(s, sum / draws);
  }
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  return { head, meanError, errors, fitNotes };
}

/** Fits a learned map to the head's train sequences at m features (centred keys); a string says why not. */
function fitMap(head: Head, train: HeadSequence[], m: number, o: AdvisorOptions, caps: Capabilities, notes: string[]): Record<string, unknown> | string {
  if (!train.length) {
    notes.push(`${head.name}: no train sequences to fit a map on`);
    return 'n/a';
  }
  try {
    const samples = train.map((s) => ({ q: s.q, k: caps.centerKeys ? s.k : centered(s.k, head.dim), v: s.v, length: s.length }));
    // with the centerKeys option the fit centres the keys itself (by the mean training key, a shift that its
    // result carries); without it the samples come centred, each by its own mean, as the evaluation does
    const result = caps.fit!(samples, { dim: head.dim, features: m, kernel: LEARNED_KERNEL, steps: o.fitSteps, ...(caps.centerKeys ? { centerKeys: true } : {}) });
    // FavorAttention options (projection, kernel, …) to spread into the constructor, in result.options
    return (typeof result.options === 'object' && result.options ? result.options : result) as Record<string, unknown>;
  } catch (error) {
    notes.push(`${head.name} m=${m}: fitFeatureMap failed: ${(error as Error).message}`);
    return 'fit failed';
  }
}

/** Time per token (µs) of each available setting at L = o.serve for a head of this dim; keyed by family and m. */
function timeSettings(ctx: Context, dim: number, dv: number, settings: Setting[], o: AdvisorOptions, caps: Capabilities): Map<string, number> {
  const L = o.serve;
  const [q, k, v] = [randn(L * dim, 11, 0.5), randn(L * dim, 12, 0.5), randn(L * dv, 13, 1)];
  const out = new Float32Array(L * dv);
  const shape = { queries: L, dim, valueDim: dv };
  const times = new Map<string, number>();
  const perToken = (ms: number) => (ms * 1e3) / L;
  times.set('exact', perToken(ctx.measure(`exact d${dim} L${L}`, () => exactAttention(q, k, v, shape, { out })).medianMs));
  times.set('mean(V)', perToken(ctx.measure(`mean(V) d${dim} L${L}`, () => meanOfValues({ split: 'held-out', length: L, q, k, v }, dv)).medianMs));
  for (const s of settings) {
    if (available(s, caps)) continue;
    const key = `${s.family}\u0000${s.m}`;
    // a learned map costs what its kernel costs with any matrix of its size
    const learned = s.learned ? { kernel: LEARNED_KERNEL, projection: randn(s.m * dim, 14, 0.3) } : {};
    let attn: FavorAttention;
    try {
      attn = new FavorAttention({ ...optionsOf({ name: '', dim, valueDim: dv, sequences: [] }, s, 0, caps), ...learned } as FavorAttentionOptions);
    } catch {
      continue;
    }
    const keys = s.centred && !caps.centerKeys ? centered(k, dim) : k;
    times.set(key, perToken(ctx.measure(`${s.family} m${s.m} d${dim} L${L}`, () => attn.forward(q, keys, v, shape, { out })).medianMs));
  }
  return times;
}

export function runAdvisor(ctx: Context, o: AdvisorOptions): Table[] {
  const data = o.data;
  const caps = capabilities();
  const settings = settingsOf(o);
  const results: HeadResult[] = [];
  for (const head of data.heads) results.push(evaluateHead(head, settings, o, caps));
  const timings = new Map<string, Map<string, number>>();
  for (const head of data.heads) {
    const key = `${head.dim}×${head.valueDim}`;
    if (!timings.has(key)) timings.set(key, timeSettings(ctx, head.dim, head.valueDim, settings, o, caps));
  }
  const timeOf = (head: Head, s: Setting | string) => timings.get(`${head.dim}×${head.valueDim}`)!.get(typeof s === 'string' ? s : `${s.family}\u0000${s.m}`);
  const notes = [...caps.notes, ...results.flatMap((r) => r.fitNotes)];
  return [errorTable(data.model, results, o, notes), timeTable(data.heads, settings, o, timeOf), recommendationTable(results, o, timeOf)];
}

// ---------------------------------------------------------------- tables

const fmt = (x: number) => x.toFixed(3);
/** Every m of the grid: --features, and --fit-features when learned maps are fitted. */
const mColumns = (o: AdvisorOptions) => [...new Set([...o.features, ...(o.fitSteps ? o.fitFeatures : [])])].sort((a, b) => a - b);
const mKey = (m: number) => `m${m}`;

function errorTable(model: string, results: HeadResult[], o: AdvisorOptions, notes: string[]): Table & Charted {
  const rows: Row[] = [];
  const charts: Chart[] = [];
  for (const r of results) {
    rows.push({ head: r.head.name, setting: 'mean(V)', meanVError: r.meanError, ...Object.fromEntries(mColumns(o).map((m) => [mKey(m), r.meanError])) });
    const families = [...new Set([...r.errors.keys()].map((s) => s.family))];
    const series: Series[] = [];
    for (const family of families) {
      const row: Row = { head: r.head.name, setting: family };
      const points: [number, number][] = [];
      for (const [s, e] of r.errors) {
        if (s.family !== family) continue;
        row[mKey(s.m)] = e;
        if (typeof e === 'number') points.push([s.m, e]);
      }
      rows.push(row);
      if (points.length) series.push({ name: family, points });
    }
    series.push({ name: 'mean(V)', style: 'reference', points: mColumns(o).map((m) => [m, r.meanError]) });
    series.push({ name: `target (${o.target} × mean(V))`, style: 'reference', points: mColumns(o).map((m) => [m, o.target * r.meanError]) });
    charts.push({
      id: `advisor-${r.head.name}`,
      title: `${r.head.name}: error against exact attention on held-out text`,
      subtitle: `${model}; d = ${r.head.dim}; ${r.head.sequences.filter((s) => s.split === 'held-out').length} held-out sequences`,
      xLabel: 'features m',
      yLabel: 'relative error ‖out − exact‖ / ‖exact‖',
      series,
    });
  }
  const columns: Column[] = [
    { key: 'head', label: 'head' },
    { key: 'setting', label: 'setting' },
    ...mColumns(o).map((m) => ({ key: mKey(m), label: `m=${m}`, format: fmt })),
  ];
  return {
    mode: 'accuracy-data',
    title: `Error against exact attention on held-out sequences (${model})${notes.length ? `\n${notes.map((n) => `  note: ${n}`).join('\n')}` : ''}`,
    columns,
    rows,
    charts,
  };
}

function timeTable(heads: Head[], settings: Setting[], o: AdvisorOptions, timeOf: (h: Head, s: Setting | string) => number | undefined): Table {
  const rows: Row[] = [];
  const seen = new Set<string>();
  for (const head of heads) {
    const dims = `${head.dim}×${head.valueDim}`;
    if (seen.has(dims)) continue;
    seen.add(dims);
    for (const name of ['exact', 'mean(V)']) {
      const t = timeOf(head, name);
      if (t !== undefined) rows.push({ d: head.dim, dv: head.valueDim, setting: name, ...Object.fromEntries(mColumns(o).map((m) => [mKey(m), t])) });
    }
    for (const family of [...new Set(settings.map((s) => s.family))]) {
      const row: Row = { d: head.dim, dv: head.valueDim, setting: family };
      for (const s of settings.filter((x) => x.family === family)) {
        const t = timeOf(head, s);
        row[mKey(s.m)] = t ?? 'n/a';
      }
      rows.push(row);
    }
  }
  return {
    mode: 'accuracy-data-time',
    title: `Time per token (µs) of one head at L = ${o.serve} (exact and mean(V) do not depend on m)`,
    columns: [
      { key: 'd', label: 'd', format: String },
      { key: 'setting', label: 'setting' },
      ...mColumns(o).map((m) => ({ key: mKey(m), label: `m=${m}`, format: (x: number) => x.toFixed(2) })),
    ],
    rows,
  };
}

function recommendationTable(results: HeadResult[], o: AdvisorOptions, timeOf: (h: Head, s: Setting | string) => number | undefined): Table {
  const rows: Row[] = results.map((r) => {
    const target = o.target * r.meanError;
    const candidates = [...r.errors].filter((e): e is [Setting, number] => typeof e[1] === 'number').map(([s, error]) => ({ s, error, time: timeOf(r.head, s) ?? Infinity }));
    const within = candidates.filter((c) => c.error <= target);
    // the cheapest; times within TIE of it count as equal (timings are noisy), and the most accurate of those wins
    const cheapest = Math.min(...within.map((c) => c.time));
    const tied = within.filter((c) => c.time <= (1 + TIE) * cheapest);
    const best = (tied.length ? tied : candidates).sort((a, b) => a.error - b.error)[0];
    const exactTime = timeOf(r.head, 'exact');
    return {
      head: r.head.name,
      meanVError: r.meanError,
      target,
      recommendation: best ? `${best.s.family}, m=${best.s.m}` : 'none',
      withinTarget: within.length ? 'yes' : 'no',
      ...(best ? { error: best.error, errorVsMeanV: best.error / r.meanError, usPerToken: best.time, m: best.s.m, window: best.s.window, centred: best.s.centred ? 'yes' : 'no', learned: best.s.learned ? 'yes' : 'no' } : {}),
      ...(exactTime === undefined ? {} : { exactUsPerToken: exactTime }),
    };
  });
  return {
    mode: 'accuracy-data-advice',
    title: `Recommendation per head: the cheapest setting with error ≤ ${o.target} × mean(V)'s (within ${TIE * 100} % of the cheapest time: the most accurate; none: the most accurate overall); time at L = ${o.serve}`,
    columns: [
      { key: 'head', label: 'head' },
      { key: 'meanVError', label: 'mean(V)', format: fmt },
      { key: 'target', label: 'target', format: fmt },
      { key: 'recommendation', label: 'recommendation' },
      { key: 'withinTarget', label: 'within' },
      { key: 'error', label: 'error', format: fmt },
      { key: 'errorVsMeanV', label: '/ mean(V)', format: (x) => x.toFixed(2) },
      { key: 'usPerToken', label: 'µs/token', format: (x) => x.toFixed(2) },
      { key: 'exactUsPerToken', label: 'exact µs/token', format: (x) => x.toFixed(2) },
    ],
    rows,
  };
}
