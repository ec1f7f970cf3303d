// The demo page: reads the controls, computes with demo/compute.js, draws the canvases, and exposes what
// it drew on `window.demo` (the test compares it with the same computation in Node).
import { CURVE_FEATURES, errorCurve, KERNELS, matrices, ready, timing } from './compute.js';

const form = document.getElementById('controls');
const status = document.getElementById('status');
const $ = (id) => document.getElementById(id);

for (const kernel of KERNELS) form.kernel.add(new Option(kernel, kernel, kernel === 'softmax', kernel === 'softmax'));

// ---- colour maps ------------------------------------------------------------------------------------
// viridis, sampled at 9 points (matplotlib's table), linearly interpolated
const VIRIDIS = [[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142], [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37]];
// diverging blue – white – red
const DIVERGING = [[33, 102, 172], [103, 169, 207], [209, 229, 240], [247, 247, 247], [253, 219, 199], [239, 138, 98], [178, 24, 43]];

function colour(table, t) {
  const x = Math.min(1, Math.max(0, t)) * (table.length - 1);
  const i = Math.min(table.length - 2, Math.floor(x));
  const f = x - i;
  return table[i].map((c, j) => Math.round(c + (table[i + 1][j] - c) * f));
}

/** Draws an L×L matrix, one pixel per entry (CSS scales it up), value → colour by `toUnit`. */
function heatmap(canvas, values, L, table, toUnit) {
  canvas.width = L;
  canvas.height = L;
  const ctx = canvas.getContext('2d');
  const image = ctx.createImageData(L, L);
  for (let i = 0; i < L * L; i++) {
    const [r, g, b] = colour(table, toUnit(values[i]));
    image.data.set([r, g, b, 255], i * 4);
  }
  ctx.putImageData(image, 0, 0);
}

function colourBar(canvas, table) {
  const ctx = canvas.getContext('2d');
  for (let x = 0; x < canvas.width; x++) {
    const [r, g, b] = colour(table, x / (canvas.width - 1));
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.fillRect(x, 0, 1, canvas.height);
  }
}

const fmt = (x) => (Math.abs(x) >= 0.01 || x === 0 ? x.toFixed(3) : x.toExponential(1));

// ---- error against m ----------------------------------------------------------------------------------
function drawCurve(canvas, curve, currentM) {
  const dpr = window.devicePixelRatio || 1;
  const W = 480;
  const H = 290;
  canvas.width = W * dpr;
  canvas.height = H * dpr;
  const ctx = canvas.getContext('2d');
  ctx.scale(dpr, dpr);
  ctx.clearRect(0, 0, W, H);
  const pad = { left: 52, right: 16, top: 12, bottom: 40 };
  const ms = curve.points.map((p) => p.m);
  const xs = ms.map(Math.log2);
  const first = curve.points[0];
  const reference = ms.map((m) => first.error * Math.sqrt(first.m / m));
  const all = [...curve.points.map((p) => p.error), curve.uniform, ...reference].filter((v) => v > 0);
  let lo = Math.floor(Math.log10(Math.min(...all)));
  let hi = Math.ceil(Math.log10(Math.max(...all)));
  if (hi - lo < 1) hi = lo + 1;
  const X = (lx) => pad.left + ((lx - xs[0]) / (xs[xs.length - 1] - xs[0])) * (W - pad.left - pad.right);
  const Y = (v) => pad.top + ((hi - Math.log10(v)) / (hi - lo)) * (H - pad.top - pad.bottom);

  ctx.font = '11px system-ui, "DejaVu Sans", sans-serif';
  ctx.strokeStyle = '#e3e7ed';
  ctx.fillStyle = '#5b6575';
  ctx.lineWidth = 1;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (let e = lo; e <= hi; e++) {
    for (const k of [1, 2, 5]) {
      const v = k * 10 ** e;
      if (Math.log10(v) > hi + 1e-9) break;
      const y = Y(v);
      ctx.beginPath();
      ctx.moveTo(pad.left, y);
      ctx.lineTo(W - pad.right, y);
      ctx.stroke();
      if (k === 1 || hi - lo <= 2) ctx.fillText(String(+v.toPrecision(1)), pad.left - 6, y);
    }
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (const m of ms) {
    const x = X(Math.log2(m));
    ctx.beginPath();
    ctx.moveTo(x, pad.top);
    ctx.lineTo(x, H - pad.bottom);
    ctx.stroke();
    ctx.fillText(String(m), x, H - pad.bottom + 5);
  }
  ctx.fillText('m (random features, log scale)', (pad.left + W - pad.right) / 2, H - 16);
  ctx.save();
  ctx.translate(13, (pad.top + H - pad.bottom) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText('relative error (log scale)', 0, -6);
  ctx.restore();

  const line = (values, style, dash, width = 2) => {
    ctx.strokeStyle = style;
    ctx.setLineDash(dash);
    ctx.lineWidth = width;
    ctx.beginPath();
    values.forEach((v, i) => (i ? ctx.lineTo(X(xs[i]), Y(v)) : ctx.moveTo(X(xs[i]), Y(v))));
    ctx.stroke();
    ctx.setLineDash([]);
  };
  line(reference, '#9aa3b0', [6, 4], 1.5);
  line(ms.map(() => curve.uniform), '#c94f4f', [2, 3], 1.5);
  line(curve.points.map((p) => p.error), '#2a6fdb', []);
  for (const p of curve.points) {
    ctx.fillStyle = p.m === currentM ? '#ff9f1c' : '#2a6fdb';
    ctx.beginPath();
    ctx.arc(X(Math.log2(p.m)), Y(p.error), p.m === currentM ? 5.5 : 3.5, 0, 2 * Math.PI);
    ctx.fill();
  }
  // legend, on a white box
  ctx.fillStyle = 'rgba(255,255,255,0.85)';
  ctx.fillRect(pad.left + 6, H - pad.bottom - 62, 160, 52);
  ctx.textAlign = 'left';
  ctx.textBaseline = 'middle';
  const legend = [['FAVOR+ (this kernel)', '#2a6fdb', []], ['∝ 1/√m', '#9aa3b0', [6, 4]], ['uniform attention', '#c94f4f', [2, 3]]];
  legend.forEach(([text, style, dash], i) => {
    const y = H - pad.bottom - 52 + i * 16; // bottom left: the curves fall towards the right
    const x = pad.left + 12;
    ctx.strokeStyle = style;
    ctx.setLineDash(dash);
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(x, y);
    ctx.lineTo(x + 22, y);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = '#1d2430';
    ctx.fillText(text, x + 28, y);
  });
}

// ---- the page -----------------------------------------------------------------------------------------
function params() {
  const seed = Math.min(4294967295, Math.max(0, Math.floor(Number(form.seed.value) || 0)));
  return { L: Number(form.L.value), d: Number(form.d.value), m: Number(form.m.value), kernel: form.kernel.value, seed, strength: Number(form.strength.value) };
}

const nextFrame = () => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
let generation = 0;

async function update() {
  const run = ++generation;
  document.body.dataset.state = 'running';
  status.textContent = 'computing…';
  await nextFrame();
  if (run !== generation) return;
  const p = params();
  const t0 = performance.now();
  const result = matrices(p);
  const curve = errorCurve(p, CURVE_FEATURES);
  const ms = performance.now() - t0;

  let max = 0;
  for (const x of result.exact) max = Math.max(max, x);
  heatmap($('exact'), result.exact, p.L, VIRIDIS, (x) => x / max);
  heatmap($('favor'), result.favor, p.L, VIRIDIS, (x) => x / max);
  const span = result.maxAbs || 1;
  heatmap($('diff'), result.diff, p.L, DIVERGING, (x) => 0.5 + x / (2 * span));
  $('exact-max').textContent = $('favor-max').textContent = fmt(max);
  $('diff-min').textContent = fmt(-span);
  $('diff-max').textContent = fmt(span);
  $('favor-title').textContent = `${p.kernel}, m = ${p.m}`;
  $('stats').textContent = `relative error ${fmt(result.error)} · max |Â − A| ${fmt(result.maxAbs)} · uniform attention ${fmt(curve.uniform)}`;
  drawCurve($('curve'), curve, p.m);

  window.demo = { params: p, exact: result.exact, favor: result.favor, error: result.error, maxAbs: result.maxAbs, curve, timing: window.demo?.timing };
  status.textContent = `L = ${p.L}, d = ${p.d}: computed in ${ms.toFixed(0)} ms`;
  document.body.dataset.state = 'done';
  document.body.dataset.params = JSON.stringify(p);
}

async function time() {
  document.body.dataset.timing = 'running';
  $('exact-ms').textContent = $('favor-ms').textContent = '…';
  await nextFrame();
  const t = timing({ L: 4096, d: 64, m: 256, kernel: 'softmax' });
  const longest = Math.max(t.exactMs, t.favorMs);
  $('exact-bar-time').style.width = `${(100 * t.exactMs) / longest}%`;
  $('favor-bar-time').style.width = `${(100 * t.favorMs) / longest}%`;
  $('exact-ms').textContent = `${t.exactMs.toFixed(1)} ms`;
  $('favor-ms').textContent = `${t.favorMs.toFixed(1)} ms`;
  $('time-L').textContent = String(t.L);
  $('time-note').textContent = `FAVOR+ (softmax, m = ${t.m}) is ${t.speedup.toFixed(1)}× faster than exact attention here; `
    + 'exact costs O(L²·d), FAVOR+ O(L·m·d). Median of three runs after a warm-up, measured in this page.';
  window.demo = { ...window.demo, timing: t };
  document.body.dataset.timing = 'done';
}

colourBar($('exact-bar'), VIRIDIS);
colourBar($('favor-bar'), VIRIDIS);
colourBar($('diff-bar'), DIVERGING);
form.addEventListener('change', () => void update());
$('retime').addEventListener('click', () => void time());

try {
  await ready();
  await update();
  await time();
} catch (error) {
  status.textContent = `error: ${error.message}`;
  document.body.dataset.state = 'error';
  throw error;
}
