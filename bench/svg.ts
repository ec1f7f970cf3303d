// --svg: the run's results as standalone SVG charts (hand-written markup, no dependencies).
//
// A chart is a set of named series of (x, y[, sd]) points on log–log axes. A mode's table can carry
// its own charts (`Table & Charted`, see modes/accuracy.ts); tables without charts are searched for
// timings against L (rows with a numeric `L` and `…MedianMs` fields, e.g. favorMedianMs, or a plain
// medianMs named by the row's peer / impl / library / name field), which all go into one "time"
// chart. Charts with the same id from several tables are merged; series with the same name too.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, extname } from 'node:path';
import type { Row, Table } from './table.ts';

/** [x, y] or [x, y, sd]: sd draws an error bar y ± sd when the chart asks for them. */
export type Point = [x: number, y: number, sd?: number];

export interface Series {
  name: string;
  points: Point[];
  /**
   * 'dashed': a dashed line with open markers (a variant of a solid series of the same group);
   * 'reference': a grey dashed line without markers, e.g. a baseline.
   */
  style?: 'solid' | 'dashed' | 'reference';
  /** Series of one group share a colour and a marker (e.g. one method at several head counts). Default: the name. */
  group?: string;
}

export interface Chart {
  /** Charts with the same id are merged; also the file suffix when a run writes several charts. */
  id: string;
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  errorBars?: boolean;
}

/** What a mode's table may carry besides its rows. */
export interface Charted {
  charts?: Chart[];
}

// ---------------------------------------------------------------- collecting charts from tables

/** Names for the `<prefix>MedianMs` timings of the modes; `exact` depends on the mode (causal or not). */
const PREFIX_NAMES: Record<string, string> = { favor: 'FAVOR+ bidirectional', bidir: 'FAVOR+ bidirectional', causal: 'FAVOR+ causal' };

/** What a peers-<kind> table times: a peer library may appear in several such tables. */
const KIND_NAMES: Record<string, string> = { favor: 'FAVOR+', exact: 'exact', causal: 'causal' };

function timingName(table: Table, prefix: string, row: Row): string {
  if (prefix === '') {
    const named = row.peer ?? row.impl ?? row.library ?? row.name;
    if (named === undefined) return table.mode;
    const kind = /^peers?-(.+)$/.exec(table.mode)?.[1];
    return kind ? `${named} · ${KIND_NAMES[kind] ?? kind}` : String(named);
  }
  if (prefix === 'exact') return table.mode === 'causal' || row.causal === 'yes' ? 'exact causal' : 'exact';
  return PREFIX_NAMES[prefix] ?? prefix;
}

/** The time-against-L chart of the tables without charts of their own (undefined: no timings against L). */
function timeChart(tables: Table[]): Chart | undefined {
  type Acc = { name: string; heads: number; points: Point[] };
  const found = new Map<string, Acc>();
  const config = { d: new Set<string>(), M: new Set<string>(), kernel: new Set<string>() };
  for (const table of tables) {
    if ((table as Table & Charted).charts) continue;
    for (const row of table.rows) {
      if (typeof row.L !== 'number') continue;
      const heads = (typeof row.heads === 'number' ? row.heads : 1) * (typeof row.batch === 'number' ? row.batch : 1);
      for (const [key, value] of Object.entries(row)) {
        const match = /^(.*?)(?:MedianMs|medianMs)$/.exec(key);
        if (!match || typeof value !== 'number' || !(value > 0)) continue;
        const name = timingName(table, match[1], row);
        const id = `${name}\u0000${heads}`;
        const acc = found.get(id) ?? { name, heads, points: [] };
        found.set(id, acc);
        if (!acc.points.some(([x]) => x === row.L)) acc.points.push([row.L, value]);
        for (const field of ['d', 'M', 'kernel'] as const) if (row[field] !== undefined) config[field].add(String(row[field]));
      }
    }
  }
  if (!found.size) return undefined;
  const headCounts = new Set([...found.values()].map((s) => s.heads));
  const several = headCounts.size > 1;
  const least = Math.min(...headCounts);
  // Legend order: the package's own series first (in FIXED's order), then the rest as found.
  const ours = Object.keys(FIXED);
  const order = [...new Set([...found.values()].map((s) => s.name))].sort(
    (a, b) => (ours.includes(a) ? ours.indexOf(a) : ours.length) - (ours.includes(b) ? ours.indexOf(b) : ours.length),
  );
  const series: Series[] = [...found.values()]
    .sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name) || a.heads - b.heads)
    .map((s) => ({
      name: several ? `${s.name}, ${s.heads} head${s.heads > 1 ? 's' : ''}` : s.name,
      group: s.name,
      style: s.heads === least ? 'solid' : 'dashed',
      points: s.points,
    }));
  const only = [...headCounts][0];
  const unique = (field: keyof typeof config, show: (v: string) => string) => (config[field].size === 1 ? show([...config[field]][0]) : '');
  const parts = [
    unique('d', (v) => `d = ${v}`),
    unique('M', (v) => `M = ${v} features`),
    unique('kernel', (v) => `kernel ${v}`),
    several ? '' : `batch·heads = ${only}`,
    'median time per call',
  ].filter(Boolean);
  return { id: 'time', title: 'Attention time against sequence length', subtitle: parts.join('; '), xLabel: 'sequence length L', yLabel: 'time per call (ms)', series };
}

/** Every chart of the run: the tables' own (merged by id) and the time chart, in order of first appearance. */
export function chartsOf(tables: Table[]): Chart[] {
  const charts: Chart[] = [];
  const time = timeChart(tables);
  let timePlaced = false;
  for (const table of tables) {
    const own = (table as Table & Charted).charts;
    if (!own) {
      if (time && !timePlaced && table.rows.some((r) => typeof r.L === 'number')) {
        charts.push(time);
        timePlaced = true;
      }
      continue;
    }
    for (const chart of own) {
      const same = charts.find((c) => c.id === chart.id);
      if (!same) charts.push({ ...chart, series: chart.series.map((s) => ({ ...s, points: [...s.points] })) });
      else mergeSeries(same, chart.series);
    }
  }
  if (time && !timePlaced) {
    const same = charts.find((c) => c.id === 'time');
    if (same) mergeSeries(same, time.series);
    else charts.push(time);
  }
  return charts;
}

function mergeSeries(into: Chart, series: Series[]): void {
  for (const s of series) {
    const same = into.series.find((t) => t.name === s.name);
    if (!same) into.series.push({ ...s, points: [...s.points] });
    else for (const p of s.points) if (!same.points.some(([x]) => x === p[0])) same.points.push(p);
  }
}

/**
 * Writes the run's charts: to `file` when there is one, to `<stem>-<id>.svg` each when there are
 * several. Returns the paths written (none when nothing in the results can be charted).
 */
export function writeCharts(file: string, tables: Table[], footer?: string): string[] {
  const charts = chartsOf(tables);
  const ext = extname(file) || '.svg';
  const stem = extname(file) ? file.slice(0, -ext.length) : file;
  return charts.map((chart) => {
    const path = charts.length === 1 ? file : `${stem}-${chart.id}${ext}`;
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, renderSvg(chart, footer));
    return path;
  });
}

// ---------------------------------------------------------------- rendering

/** Plot area width; the SVG grows to the right with the legend. */
const PLOT_WIDTH = 600;
const HEIGHT = 520;
const FONT = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";
/** Okabe–Ito, readable by the colour-blind; fixed colours for the package's own series. */
const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#8C564B', '#7F3C8D'];
const FIXED: Record<string, string> = { 'FAVOR+ bidirectional': '#0072B2', 'FAVOR+ causal': '#D55E00', exact: '#222222', 'exact causal': '#777777' };
const MARKERS = ['circle', 'square', 'triangle', 'diamond', 'down', 'cross', 'plus', 'star'] as const;
type Marker = (typeof MARKERS)[number];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const f1 = (x: number) => (Math.round(x * 10) / 10).toString();
/** Rough text width for a sans-serif font (no measuring without a browser). */
const textWidth = (s: string, size: number) => s.length * size * 0.56;

const SUPERSCRIPT: Record<string, string> = { '-': '⁻', '0': '⁰', '1': '¹', '2': '²', '3': '³', '4': '⁴', '5': '⁵', '6': '⁶', '7': '⁷', '8': '⁸', '9': '⁹' };
const sup = (n: number) => String(n).replace(/./g, (c) => SUPERSCRIPT[c] ?? c);

/** Tick labels of one axis: plain decimals when every tick is an everyday magnitude, else 10ⁿ or a·10ⁿ for all. */
function tickLabels(values: number[]): string[] {
  const plain = values.every((v) => v >= 1e-3 && v < 1e6);
  return values.map((v) => (plain ? String(Number(v.toPrecision(6))) : powerLabel(v)));
}

function powerLabel(v: number): string {
  const e = Math.floor(Math.log10(v) + 1e-9);
  const a = Number((v / 10 ** e).toPrecision(3));
  return a === 1 ? `10${sup(e)}` : `${a}·10${sup(e)}`;
}

interface Ticks {
  major: number[];
  minor: number[];
}

/** Ticks of a log axis over [lo, hi]: powers of 2 when every x is one, else decades (1-2-5 on short ranges). */
function logTicks(lo: number, hi: number, base2: boolean): Ticks {
  if (base2) {
    const all: number[] = [];
    for (let e = Math.ceil(Math.log2(lo) - 1e-9); 2 ** e <= hi * (1 + 1e-9); e++) all.push(2 ** e);
    const step = Math.max(1, Math.ceil(all.length / 9));
    const first = all.findIndex((v) => Math.log2(v) % step === 0);
    const major = all.filter((_, i) => (i - first) % step === 0 && i >= first);
    return { major, minor: all.filter((v) => !major.includes(v)) };
  }
  const decades: number[] = [];
  const minor: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); 10 ** e <= hi * (1 + 1e-9); e++) {
    for (let a = 1; a <= 9; a++) {
      const v = a * 10 ** e;
      if (v < lo * (1 - 1e-9) || v > hi * (1 + 1e-9)) continue;
      if (a === 1) decades.push(v);
      else minor.push(v);
    }
  }
  if (decades.length >= 2) {
    // Many decades: label every 2nd or 3rd.
    const step = Math.ceil(decades.length / 8);
    return { major: decades.filter((v) => Math.round(Math.log10(v)) % step === 0), minor: [...minor, ...decades.filter((v) => Math.round(Math.log10(v)) % step !== 0)] };
  }
  const labelled = minor.filter((v) => [2, 5].includes(Number((v / 10 ** Math.floor(Math.log10(v) + 1e-9)).toPrecision(3))));
  return { major: [...decades, ...labelled].sort((a, b) => a - b), minor: minor.filter((v) => !labelled.includes(v)) };
}

function markerPath(kind: Marker, x: number, y: number, r: number): string {
  const p = (pts: [number, number][]) => `M${pts.map(([a, b]) => `${f1(x + a)},${f1(y + b)}`).join('L')}Z`;
  switch (kind) {
    case 'circle':
      return `M${f1(x - r)},${f1(y)}a${r},${r} 0 1,0 ${2 * r},0a${r},${r} 0 1,0 ${-2 * r},0Z`;
    case 'square':
      return p([[-r * 0.85, -r * 0.85], [r * 0.85, -r * 0.85], [r * 0.85, r * 0.85], [-r * 0.85, r * 0.85]]);
    case 'triangle':
      return p([[0, -r * 1.15], [r, r * 0.75], [-r, r * 0.75]]);
    case 'down':
      return p([[0, r * 1.15], [r, -r * 0.75], [-r, -r * 0.75]]);
    case 'diamond':
      return p([[0, -r * 1.2], [r, 0], [0, r * 1.2], [-r, 0]]);
    case 'cross':
      return `M${f1(x - r)},${f1(y - r)}L${f1(x + r)},${f1(y + r)}M${f1(x - r)},${f1(y + r)}L${f1(x + r)},${f1(y - r)}`;
    case 'plus':
      return `M${f1(x - r * 1.2)},${f1(y)}L${f1(x + r * 1.2)},${f1(y)}M${f1(x)},${f1(y - r * 1.2)}L${f1(x)},${f1(y + r * 1.2)}`;
    case 'star': {
      const pts: [number, number][] = [];
      for (let i = 0; i < 10; i++) {
        const a = (Math.PI / 5) * i - Math.PI / 2;
        const rr = i % 2 ? r * 0.5 : r * 1.25;
        pts.push([rr * Math.cos(a), rr * Math.sin(a)]);
      }
      return p(pts);
    }
  }
}

/** Markers at pixel positions: filled with a white rim, or open (white inside) for dashed series; crosses are strokes. */
function markers(kind: Marker, at: [number, number][], color: string, open: boolean): string {
  const d = at.map(([x, y]) => markerPath(kind, x, y, 4.5)).join('');
  if (kind === 'cross' || kind === 'plus') return `<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`;
  return open ? `<path d="${d}" fill="#ffffff" stroke="${color}" stroke-width="1.6"/>` : `<path d="${d}" fill="${color}" stroke="#ffffff" stroke-width="1"/>`;
}

/** One chart as a standalone SVG document. */
export function renderSvg(chart: Chart, footer?: string): string {
  const series = chart.series.filter((s) => s.points.some(([x, y]) => x > 0 && y > 0));
  // Styles: fixed colours for the package's own series, the palette in order for the rest.
  // Colour and marker per group: fixed colours for the package's own series, the palette in order for the rest.
  const groupOf = (s: Series) => s.group ?? s.name;
  const used = new Set(series.map((s) => FIXED[groupOf(s)]).filter(Boolean));
  const free = PALETTE.filter((c) => !used.has(c));
  const looks = new Map<string, { color: string; marker: Marker }>();
  let nextColor = 0;
  const styled = series.map((s) => {
    const reference = s.style === 'reference';
    const open = s.style === 'dashed';
    let look = looks.get(groupOf(s));
    if (!look && !reference) {
      look = { color: FIXED[groupOf(s)] ?? free[nextColor++ % free.length], marker: MARKERS[looks.size % MARKERS.length] };
      looks.set(groupOf(s), look);
    }
    const points = s.points.filter(([x, y]) => x > 0 && y > 0).sort((a, b) => a[0] - b[0]);
    return { ...s, color: look?.color ?? '#888888', marker: look?.marker, points, reference, open };
  });

  // Domains (log10), error bars included where they stay positive.
  const xs = styled.flatMap((s) => s.points.map((p) => p[0]));
  const ys = styled.flatMap((s) =>
    s.points.flatMap(([, y, sd]) => (chart.errorBars && sd ? [y, y + sd, ...(y - sd > 0 ? [y - sd] : [])] : [y])),
  );
  const base2 = xs.every((x) => Number.isInteger(Math.log2(x)));
  const span = (vals: number[], padFrac: number): [number, number] => {
    let lo = Math.log10(Math.min(...vals));
    let hi = Math.log10(Math.max(...vals));
    if (!(hi - lo > 1e-9)) [lo, hi] = [lo - 0.5, hi + 0.5];
    const pad = (hi - lo) * padFrac;
    return [lo - pad, hi + pad];
  };
  const [xlo, xhi] = xs.length ? span(xs, 0.05) : [0, 1];
  const [ylo, yhi] = ys.length ? span(ys, 0.06) : [0, 1];

  // Layout: title and subtitle on top, legend on the right, footer at the bottom.
  const left = 84;
  const top = chart.subtitle ? 72 : 52;
  const right = left + PLOT_WIDTH;
  const bottom = HEIGHT - (footer ? 74 : 58);
  // The legend: one line per series, tighter and smaller when there are many.
  const legendStep = Math.max(14, Math.min(22, (bottom - top - 8) / Math.max(1, styled.length)));
  const legendFont = legendStep >= 20 ? 13 : legendStep >= 16 ? 12 : 11;
  const legendW = Math.max(...styled.map((s) => textWidth(s.name, legendFont)), 60) + 46;
  const width = Math.ceil(Math.max(right + 18 + legendW, left + textWidth(chart.subtitle ?? '', 12.5), left + textWidth(footer ?? '', 10.5)) + 12);
  const X = (x: number) => left + ((Math.log10(x) - xlo) / (xhi - xlo)) * (right - left);
  const Y = (y: number) => bottom - ((Math.log10(y) - ylo) / (yhi - ylo)) * (bottom - top);

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${HEIGHT}" viewBox="0 0 ${width} ${HEIGHT}" font-family="${esc(FONT)}">`);
  out.push(`<title>${esc(chart.title)}</title>`);
  out.push(`<rect width="${width}" height="${HEIGHT}" fill="#ffffff"/>`);
  out.push(`<text x="${left}" y="26" font-size="17" font-weight="600" fill="#111">${esc(chart.title)}</text>`);
  if (chart.subtitle) out.push(`<text x="${left}" y="47" font-size="12.5" fill="#555">${esc(chart.subtitle)}</text>`);

  // Grid and ticks.
  const xt = logTicks(10 ** xlo, 10 ** xhi, base2);
  const yt = logTicks(10 ** ylo, 10 ** yhi, false);
  const grid: string[] = [];
  const labels: string[] = [];
  for (const v of xt.minor) grid.push(`<line x1="${f1(X(v))}" y1="${top}" x2="${f1(X(v))}" y2="${bottom}" stroke="#f0f0f0"/>`);
  for (const v of yt.minor) grid.push(`<line x1="${left}" y1="${f1(Y(v))}" x2="${right}" y2="${f1(Y(v))}" stroke="#f0f0f0"/>`);
  const xLabels = tickLabels(xt.major);
  const yLabels = tickLabels(yt.major);
  xt.major.forEach((v, i) => {
    grid.push(`<line x1="${f1(X(v))}" y1="${top}" x2="${f1(X(v))}" y2="${bottom}" stroke="#dddddd"/>`);
    grid.push(`<line x1="${f1(X(v))}" y1="${bottom}" x2="${f1(X(v))}" y2="${bottom + 5}" stroke="#333"/>`);
    labels.push(`<text x="${f1(X(v))}" y="${bottom + 20}" font-size="12" fill="#333" text-anchor="middle">${esc(xLabels[i])}</text>`);
  });
  yt.major.forEach((v, i) => {
    grid.push(`<line x1="${left}" y1="${f1(Y(v))}" x2="${right}" y2="${f1(Y(v))}" stroke="#dddddd"/>`);
    grid.push(`<line x1="${left - 5}" y1="${f1(Y(v))}" x2="${left}" y2="${f1(Y(v))}" stroke="#333"/>`);
    labels.push(`<text x="${left - 8}" y="${f1(Y(v) + 4)}" font-size="12" fill="#333" text-anchor="end">${esc(yLabels[i])}</text>`);
  });
  for (const v of yt.minor) grid.push(`<line x1="${left - 3}" y1="${f1(Y(v))}" x2="${left}" y2="${f1(Y(v))}" stroke="#999"/>`);
  for (const v of xt.minor) grid.push(`<line x1="${f1(X(v))}" y1="${bottom}" x2="${f1(X(v))}" y2="${bottom + 3}" stroke="#999"/>`);
  out.push(`<g>${grid.join('')}</g>`);
  out.push(`<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" fill="none" stroke="#333"/>`);
  out.push(`<g>${labels.join('')}</g>`);
  out.push(`<text x="${f1((left + right) / 2)}" y="${bottom + 42}" font-size="13.5" fill="#111" text-anchor="middle">${esc(chart.xLabel)} (log scale)</text>`);
  out.push(`<text transform="translate(22,${f1((top + bottom) / 2)}) rotate(-90)" font-size="13.5" fill="#111" text-anchor="middle">${esc(chart.yLabel)} (log scale)</text>`);

  // Data, clipped to the plot; error bars dodged sideways so that series at the same x stay apart.
  out.push(`<defs><clipPath id="plot-${esc(chart.id)}"><rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}"/></clipPath></defs>`);
  out.push(`<g clip-path="url(#plot-${esc(chart.id)})">`);
  const barred = styled.filter((s) => !s.reference && chart.errorBars && s.points.some((p) => p[2]));
  for (const s of styled) {
    const dodge = barred.includes(s) ? (barred.indexOf(s) - (barred.length - 1) / 2) * 5 : 0;
    const pts = s.points.map(([x, y]) => `${f1(X(x) + dodge)},${f1(Y(y))}`).join(' ');
    const dash = s.reference || s.open ? ' stroke-dasharray="7 5"' : '';
    out.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="${s.reference ? 1.6 : 2}" stroke-linejoin="round"${dash}/>`);
    if (barred.includes(s)) {
      for (const [x, y, sdv] of s.points) {
        if (!sdv) continue;
        const cx = X(x) + dodge;
        const y1 = y - sdv > 0 ? Y(y - sdv) : bottom + 10;
        const y2 = Y(y + sdv);
        out.push(`<path d="M${f1(cx)},${f1(y1)}V${f1(y2)}M${f1(cx - 3.5)},${f1(y2)}H${f1(cx + 3.5)}${y - sdv > 0 ? `M${f1(cx - 3.5)},${f1(y1)}H${f1(cx + 3.5)}` : ''}" stroke="${s.color}" stroke-width="1.3" fill="none" opacity="0.85"/>`);
      }
    }
    if (s.marker) out.push(markers(s.marker, s.points.map(([x, y]) => [X(x) + dodge, Y(y)]), s.color, s.open));
  }
  out.push('</g>');

  // Legend.
  const lx = right + 18;
  let ly = top + 8;
  out.push(`<g font-size="${legendFont}" fill="#111">`);
  for (const s of styled) {
    const dash = s.reference || s.open ? ' stroke-dasharray="7 5"' : '';
    out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 28}" y2="${ly}" stroke="${s.color}" stroke-width="2"${dash}/>`);
    if (s.marker) out.push(markers(s.marker, [[lx + 14, ly]], s.color, s.open));
    out.push(`<text x="${lx + 36}" y="${ly + 4.5}">${esc(s.name)}</text>`);
    ly += legendStep;
  }
  out.push('</g>');
  if (footer) out.push(`<text x="${left}" y="${HEIGHT - 12}" font-size="10.5" fill="#888">${esc(footer)}</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
