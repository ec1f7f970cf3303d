// Result tables: aligned text for people, plain rows for --json.
import type { Timing } from './timing.ts';

export type Cell = string | number;
export type Row = Record<string, Cell>;

export interface Column {
  key: string;
  label: string;
  /** How a number is shown; default: up to 4 significant digits. Strings are shown as they are. */
  format?: (value: number) => string;
  /** Left out of the text table when no row has a value for it. */
  optional?: boolean;
}

export interface Table {
  mode: string;
  title: string;
  columns: Column[];
  /** Rows may hold more keys than the columns show; --json prints them all. */
  rows: Row[];
}

/** Ratios and speedups: 2 decimals below 10, 1 below 100, none above. */
export const sig3 = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

/** 4 significant digits without exponent notation for everyday magnitudes: 0.01234, 12.34, 1234. */
export function sig(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const digits = x === 0 ? 0 : Math.max(0, 3 - Math.floor(Math.log10(Math.abs(x))));
  return x.toFixed(Math.min(digits, 6));
}

/** The columns every timed row ends with, and the row fields they read. */
export const timingColumns: Column[] = [
  { key: 'medianMs', label: 'median ms' },
  { key: 'gflops', label: 'GFLOP/s', format: (x) => x.toFixed(2) },
  { key: 'rme', label: '±RME', format: (x) => `±${x.toFixed(1)}%` },
  { key: 'samples', label: 'samples', format: String },
];

/** A timing's fields under a prefix, for rows that hold several timings: prefixed(t, 'exact') → exactMedianMs, … */
export function prefixed(timing: Timing, prefix: string): Row {
  const cap = (k: string) => prefix + k[0].toUpperCase() + k.slice(1);
  return { [cap('medianMs')]: timing.medianMs, [cap('meanMs')]: timing.meanMs, [cap('rme')]: timing.rme, [cap('samples')]: timing.samples };
}

/** A timed row: its own fields, the timing, and GFLOP/s from `flops` per call. */
export function timedRow(fields: Row, timing: Timing, flops: number): Row {
  return { ...fields, ...timing, gflops: flops / (timing.medianMs * 1e6) };
}

export function formatTable(table: Table): string {
  const columns = table.columns.filter((c) => !c.optional || table.rows.some((r) => r[c.key] !== undefined));
  const cells = table.rows.map((row) =>
    columns.map((c) => {
      const v = row[c.key];
      return typeof v === 'number' ? (c.format ?? sig)(v) : (v ?? '–'); // '–': not measured
    }),
  );
  // Right-aligned: columns with a number, and columns of nothing but '–'.
  const numeric = columns.map((c) => table.rows.some((r) => typeof r[c.key] === 'number') || table.rows.every((r) => r[c.key] === undefined));
  const widths = columns.map((c, i) => Math.max(c.label.length, ...cells.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((s, i) => (numeric[i] ? s.padStart(widths[i]) : s.padEnd(widths[i]))).join('  ').trimEnd();
  return [table.title, line(columns.map((c) => c.label)), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}
