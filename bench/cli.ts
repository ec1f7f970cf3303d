#!/usr/bin/env node
// performer-bench: the microbenchmarks of performer-wasm, the package's bin (`npx performer-bench [mode...]
// [flags]`; `npm run bench -- …` in a clone of the repository). See --help.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { basename } from 'node:path';
import v8 from 'node:v8';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { init } from 'performer-wasm';
import 'performer-wasm/threads'; // --threads: the pool (opt-in, so that apps without threads do not bundle it)
import { runtime } from 'performer-wasm/internal';
import { UsageError, type Context, type Flag, type FlagValues, type Mode } from './mode.ts';
import { modes } from './modes/index.ts';
import { writeCharts } from './svg.ts';
import { formatTable, type Table } from './table.ts';
import { loadBenchmarkPackage, measure, measurePair, MIN_SAMPLES_FAST, MIN_SAMPLES_SLOW, SLOW_CALL, VERY_SLOW_CALL } from './timing.ts';

const DEFAULT_BUDGET = 1;

const globalFlags: Record<string, Flag> = {
  json: { type: 'boolean', help: 'print JSON on stdout instead of tables' },
  baseline: { type: 'boolean', help: 'force the baseline SIMD build: init(undefined, { relaxedSimd: false })' },
  relaxed: { type: 'boolean', help: 'enable relaxed SIMD in V8 first (Node 20 hides it behind a flag), so the relaxed build runs' },
  wasm: { type: 'string', value: '<file>', help: 'load this .wasm build with init(bytes) instead of the inlined one (env PERFORMER_WASM too)' },
  svg: { type: 'string', value: '<file>', help: 'also write the charts (time against L; accuracy against m) as SVG: <file>, or <file>-<chart>.svg when several' },
  time: { type: 'string', value: '<s>', help: `sampling budget per case, seconds (default ${DEFAULT_BUDGET})` },
  threads: { type: 'string', value: '<n>', help: 'threads: init({ threads }) (default 1); --peers run at the same count' },
  help: { type: 'boolean', short: 'h', help: 'this text' },
};

/** Every flag name → its declaration and the modes that read it. Modes sharing a flag must declare it alike. */
function modeFlags(): Map<string, { flag: Flag; modes: string[] }> {
  const all = new Map<string, { flag: Flag; modes: string[] }>();
  for (const mode of modes) {
    for (const [name, flag] of Object.entries(mode.flags ?? {})) {
      const seen = all.get(name);
      if (name in globalFlags || (seen && seen.flag.type !== flag.type)) throw new Error(`bench: flag --${name} of mode ${mode.name} clashes`);
      if (seen) seen.modes.push(mode.name);
      else all.set(name, { flag, modes: [mode.name] });
    }
  }
  return all;
}

function usage(): string {
  const pad = Math.max(...modes.map((m) => m.name.length)) + 2;
  const flagLine = (name: string, f: Flag, suffix = '') =>
    `  ${f.short ? `-${f.short}, ` : '    '}${`--${name} ${f.value ?? ''}`.padEnd(18)}${f.help}${suffix}`;
  return [
    'Usage: npx performer-bench [mode...] [flags]',
    '',
    `Microbenchmarks of performer-wasm. With no mode: ${modes.filter((m) => m.default).map((m) => m.name).join(', ')}.`,
    'Timing needs the `benchmark` package, an optional peer of performer-wasm: npm install benchmark',
    '',
    'Modes:',
    ...modes.map((m) => `  ${m.name.padEnd(pad)}${m.summary}`),
    '',
    'Flags:',
    ...Object.entries(globalFlags).map(([name, f]) => flagLine(name, f)),
    ...[...modeFlags()].map(([name, { flag, modes: users }]) => flagLine(name, flag, `  [${users.join(', ')}]`)),
    '',
    ...modes.filter((m) => m.notes?.length).flatMap((m) => [`${m.name}: ${m.notes!.join('\n  ')}`]),
    '',
    'Timing: one warm-up call per case, then benchmark.js samples; a sample is one cycle of calls lasting',
    `  ≥ 50 ms (a single call when calls are slower). Sampling stops once there are ≥ ${MIN_SAMPLES_FAST} samples`,
    `  (≥ ${MIN_SAMPLES_SLOW} when a call takes ≥ ${SLOW_CALL * 1e3} ms) and about --time seconds have passed. benchmark.js`,
    '  also makes one untimed check call before every cycle, so a case whose call takes T ≥ 50 ms costs',
    `  roughly T + 2·max(--time, ${MIN_SAMPLES_SLOW}·T) seconds. Calls of T ≥ ${VERY_SLOW_CALL} s skip benchmark.js: ${MIN_SAMPLES_SLOW}+ calls timed`,
    `  one by one (until --time has passed), costing T + max(--time, ${MIN_SAMPLES_SLOW}·T). Reported: the median sample (ms per`,
    '  call) and GFLOP/s from it; ±RME is the 95% margin of error of the mean, in percent.',
    'Wasm is compiled by V8\'s optimizing tier up front (--no-liftoff), so no call runs baseline-tier code.',
    'Build: the relaxed-SIMD build runs when the engine accepts it (Node 20 only with',
    '  --experimental-wasm-relaxed-simd, which is not allowed in NODE_OPTIONS, or with --relaxed here, which sets',
    '  that V8 flag in-process before compiling); the header names the build.',
    'Another build: --wasm <file> (or PERFORMER_WASM=<file>) runs that .wasm with init(bytes) instead of the inlined',
    '  build (one you compiled yourself; the package ships dist/performer.wasm and dist/performer-relaxed.wasm).',
  ].join('\n');
}

function parse(argv: string[]): { selected: Mode[]; flags: FlagValues } {
  const options: ParseArgsConfig['options'] = {};
  const declare = (name: string, f: Flag) => (options[name] = f.short ? { type: f.type, short: f.short } : { type: f.type });
  for (const [name, f] of Object.entries(globalFlags)) declare(name, f);
  for (const [name, { flag }] of modeFlags()) declare(name, flag);
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const selected = parsed.positionals.length ? parsed.positionals.map(findMode) : modes.filter((m) => m.default);
  return { selected, flags: parsed.values as FlagValues };
}

function findMode(name: string): Mode {
  const mode = modes.find((m) => m.name === name);
  if (!mode) throw new UsageError(`unknown mode "${name}" (modes: ${modes.map((m) => m.name).join(', ')})`);
  return mode;
}

function budgetOf(flags: FlagValues): number {
  if (flags.time === undefined) return DEFAULT_BUDGET;
  const t = Number(flags.time);
  if (!(t >= 0)) throw new UsageError(`--time takes seconds ≥ 0 (got "${flags.time}")`);
  return t;
}

function readWasm(file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new UsageError(`--wasm / PERFORMER_WASM: cannot read "${file}" (${(error as Error).message})`);
  }
}

function header(requestedRelaxed: boolean, budget: number, wasmFile: string | undefined) {
  // the package's own manifest, by self-reference (works from bench/ and from dist/bench/)
  const pkg = createRequire(import.meta.url)('performer-wasm/package.json') as { name: string; version: string };
  const build = runtime().build;
  const cpus = os.cpus();
  const vector = vectors();
  return {
    package: `${pkg.name}@${pkg.version}`,
    build,
    ...(wasmFile === undefined ? {} : { wasmFile }),
    relaxedUnavailable: requestedRelaxed && build === 'baseline',
    node: process.version,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    ...(vector ? { vectors: vector } : {}),
    budgetSeconds: budget,
    date: new Date().toISOString(),
  };
}

/** The CPU's vector extensions that native peers can use (Linux: /proc/cpuinfo's flags), e.g. "AVX-512, AVX2, FMA". */
function vectors(): string | undefined {
  try {
    const flags = new Set(/^(?:flags|Features)\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1].split(/\s+/));
    const names = [['avx512f', 'AVX-512'], ['avx2', 'AVX2'], ['fma', 'FMA'], ['asimd', 'NEON'], ['sve', 'SVE']];
    return names.filter(([flag]) => flags.has(flag)).map(([, name]) => name).join(', ') || undefined;
  } catch {
    return undefined; // not Linux
  }
}

/** A one-line status on stderr, redrawn in place; only on a terminal. */
const progress = {
  enabled: process.stderr.isTTY === true,
  show(text: string) {
    if (this.enabled) process.stderr.write(`\r\x1b[K${text}`);
  },
  clear() {
    if (this.enabled) process.stderr.write('\r\x1b[K');
  },
};

async function main(): Promise<void> {
  const { selected, flags } = parse(process.argv.slice(2));
  if (flags.help) {
    console.log(usage());
    return;
  }
  const missing = await loadBenchmarkPackage();
  if (missing) throw new UsageError(missing);
  const budget = budgetOf(flags);
  const plans = selected.map((mode) => ({ mode, options: mode.parse(flags) }));
  // Compile wasm with the optimizing tier up front: V8 never swaps tiers inside a running call, so
  // with its baseline tier (Liftoff, ~3.5× slower here) a slow warm-up call would run unoptimized.
  v8.setFlagsFromString('--no-liftoff');
  if (flags.relaxed) v8.setFlagsFromString('--experimental-wasm-relaxed-simd'); // before any module is compiled
  const wasmFile = typeof flags.wasm === 'string' ? flags.wasm : process.env.PERFORMER_WASM || undefined;
  const threads = flags.threads === undefined ? 1 : Number(flags.threads);
  if (!Number.isInteger(threads) || threads < 1) throw new UsageError(`--threads takes a positive integer (got "${flags.threads}")`);
  if (wasmFile !== undefined) await init(readWasm(wasmFile), { threads });
  else await init(undefined, { relaxedSimd: !flags.baseline, threads });
  const head = header(wasmFile === undefined && !flags.baseline, budget, wasmFile);
  if (!flags.json) {
    const build = head.wasmFile === undefined ? head.build : `${head.build} (${head.wasmFile})`;
    console.log(`${head.package} bench | build: ${build} | node ${head.node} | ${head.cpu} (${head.cores} cores${head.vectors ? `, ${head.vectors}` : ''})`);
    if (head.relaxedUnavailable) console.log('(relaxed SIMD not accepted by this engine; on Node 20 run node with --experimental-wasm-relaxed-simd)');
  }
  const tables: Table[] = [];
  for (const { mode, options } of plans) {
    const ctx: Context = {
      measure: (label, fn) => {
        progress.show(`[${mode.name}] ${label} …`);
        return measure(label, fn, { budget, onSample: (n) => n && progress.show(`[${mode.name}] ${label} … ${n} samples`) });
      },
      measurePair: (label, ours, other) => {
        progress.show(`[${mode.name}] ${label} …`);
        return measurePair(ours, other, budget);
      },
    };
    const result = await mode.run(ctx, options);
    progress.clear();
    for (const table of Array.isArray(result) ? result : [result]) {
      tables.push(table);
      if (!flags.json) console.log(`\n${formatTable(table)}`);
    }
  }
  if (typeof flags.svg === 'string') {
    const build = head.wasmFile === undefined ? `${head.build} build` : `${head.build} build (${basename(head.wasmFile)})`;
    const load = os.loadavg()[0]; // other processes slow the timings down: say how busy the machine was
    const footer = `${head.package} · ${build} · node ${head.node} · ${head.cpu} (${head.cores} cores, load ${load.toFixed(1)} at the end) · ${head.date.slice(0, 10)}`;
    const written = writeCharts(flags.svg, tables, footer);
    console.error(written.length ? `bench: wrote ${written.join(', ')}` : 'bench: --svg: nothing in these results to chart (no timings against L, no mode charts)');
  }
  if (flags.json) {
    console.log(JSON.stringify({ ...head, tables: tables.map(({ mode, title, rows }) => ({ mode, title, rows })) }, null, 2));
  }
}

main().catch((error: unknown) => {
  progress.clear();
  if (error instanceof UsageError) {
    console.error(`bench: ${error.message}\nRun with --help for usage.`);
    process.exitCode = 2;
  } else {
    console.error(error);
    process.exitCode = 1;
  }
});
