// Gradients of bidirectional hybrid attention (assembly/hybrid/window-backward.ts for the math): keys → (S, z) as in
// the forward pass; query chunks → dq, the window's gradients of their band of keys (added into dk, dv), and
// (dS, dz); keys again → their FAVOR+ gradients from (dS, dz) (favor_backward_keys, as in backward.ts). The
// workspace depends on the chunk, w, dim, valueDim and features, never on the sequence length.
import { accumulateHead } from '../favor/bidirectional.ts';
import { projectionFloats, writeProjection, type PreparedFeatures } from '../feature-maps/features.ts';
import type { Gradients } from '../favor/backward.ts';
import { bidirectionalChunks, windowSizes, writeRows } from './window.ts';
import { clearState } from '../favor/causal.ts';
import { checkWorkspaceBytes } from '../runtime/heap.ts';
import type { ResolvedShape } from '../arguments/shapes.ts';
import { runtime } from '../runtime/wasm.ts';
import { planWorkspace } from '../runtime/workspace.ts';

export function windowBackward(f: PreparedFeatures, chunk: number, window: number, beta: number, s: ResolvedShape, q: Float32Array, k: Float32Array,
                               v: Float32Array, dOut: Float32Array, mask: Uint8Array | undefined, g: Gradients): void {
  const rt = runtime();
  const e = rt.exports;
  const { dim: d, valueDim: dv, queries: Lq, keys: Lk } = s;
  const { mp, Mp } = f;
  const { w, C } = windowSizes(chunk, window, s);
  const band = Math.min(Lk, C + 2 * w);
  const rowsMax = Math.max(C, band);
  const tile = C * e.window_tile_stride(w);
  const plan = planWorkspace({
    wt: projectionFloats(f), x: C * d, v: C * dv, dOut: C * dv, kb: band * d, vb: band * dv, mask: Math.ceil(rowsMax / 4),
    u: rowsMax * mp, phi: C * Mp, phiK: band * Mp, h: rowsMax, hK: band, top: rowsMax, c: rowsMax,
    tmpS: Mp * dv, colSum: Mp, S: 2 * Mp * dv, z: 2 * Mp, S32: Mp * dv, z32: Mp, den: C, Lg: tile, G: tile, E: tile, tRow: C, fsRow: C,
    gU: C * dv, gam: C, dnum: C * dv, dden: C, dphiQ: C * Mp, dphiK: rowsMax * Mp, du: rowsMax * mp, dh: rowsMax,
    dS: 2 * Mp * dv, dz: 2 * Mp, dS32: Mp * dv, dz32: Mp, out: C * dv, dq: C * d, dqx: C * d, dkx: rowsMax * d,
    dkb: band * d, dvb: rowsMax * dv, run: 2,
  });
  checkWorkspaceBytes(plan.bytes);
  const base = rt.scratch(plan.bytes);
  const at = (region: keyof typeof plan.offsets) => base + plan.offsets[region];
  const wt = writeProjection(rt, f, at('wt'));
  const kind = f.map.id;
  g.dk.fill(0);
  g.dv.fill(0);

  for (let b = 0; b < s.batch; b++) {
    for (let hd = 0; hd < s.heads; hd++) {
      const head = b * s.heads + hd;
      accumulateHead(rt, f, C, s, k, v, mask, head, wt, at);
      e.favor_state_to_f32(at('S'), at('z'), at('S32'), at('z32'), Mp, dv);
      const cK = rt.f64[at('run') >>> 3];
      rt.f64.fill(0, at('dS') >>> 3, (at('dS') >>> 3) + Mp * dv);
      rt.f64.fill(0, at('dz') >>> 3, (at('dz') >>> 3) + Mp);
      for (const { i, rows, pFirst, kb0, nb } of bidirectionalChunks(s, C, w)) {
        rt.write(at('x'), q.subarray((head * Lq + i) * d, (head * Lq + i + rows) * d));
        rt.write(at('dOut'), dOut.subarray((head * Lq + i) * dv, (head * Lq + i + rows) * dv));
        writeRows(rt, k, v, mask, head * Lk, b * Lk, Lk, d, dv, kb0, kb0 + nb, at('kb'), at('vb'), at('mask'));
        e.window_backward_chunk(kind, at('x'), at('dOut'), at('kb'), at('vb'), at('mask'), rows, nb, d, dv, wt, f.m, mp, f.hScale, f.a, f.epsilon,
          cK, at('S32'), at('z32'), at('u'), at('h'), at('top'), at('hK'), at('c'), at('phi'), at('phiK'),
          at('den'), at('Lg'), at('G'), at('E'), at('tRow'), at('fsRow'), at('gU'), at('gam'), at('dnum'), at('dden'), at('dphiQ'), at('dphiK'),
          at('du'), at('dh'), at('tmpS'), at('colSum'), at('dS'), at('dz'),
          kb0, Lk, pFirst, w, beta, at('out'), at('dq'), at('dqx'), at('dkx'), at('dkb'), at('dvb'));
        g.dq.set(rt.view(at('dq'), rows * d), (head * Lq + i) * d);
        if (nb) {
          addInto(g.dk, (head * Lk + kb0) * d, rt.view(at('dkb'), nb * d));
          addInto(g.dv, (head * Lk + kb0) * dv, rt.view(at('dvb'), nb * dv));
        }
      }
      // the keys' FAVOR+ gradients from (dS, dz), at the key stabilizer of the forward pass
      e.favor_state_to_f32(at('dS'), at('dz'), at('dS32'), at('dz32'), Mp, dv);
      rt.f32.fill(cK, at('c') >>> 2, (at('c') >>> 2) + C);
      for (let j = 0; j < Lk; j += C) {
        const n = Math.min(C, Lk - j);
        rt.write(at('x'), k.subarray((head * Lk + j) * d, (head * Lk + j + n) * d));
        rt.write(at('v'), v.subarray((head * Lk + j) * dv, (head * Lk + j + n) * dv));
        if (mask) rt.u8.set(mask.subarray(b * Lk + j, b * Lk + j + n), at('mask'));
        e.favor_backward_keys(kind, at('x'), at('v'), mask ? at('mask') : 0, n, d, dv, wt, f.m, mp, f.hScale, f.a, f.epsilon,
          at('dS32'), at('dz32'), at('c'), at('u'), at('phi'), at('h'), at('top'), at('dphiK'), at('du'), at('dh'), at('dkx'), at('dvb'));
        addInto(g.dk, (head * Lk + j) * d, rt.view(at('dkx'), n * d));
        addInto(g.dv, (head * Lk + j) * dv, rt.view(at('dvb'), n * dv));
      }
    }
  }
}

/**
 * Gradients of causal hybrid attention: the FAVOR+ part is the causal estimator on the keys w + 1 rows behind the
 * queries (as in the forward pass, window.ts), so its gradients are backward.ts's two sweeps on those lagged keys
 * with the hybrid's normalizer gradients; the window's exact part comes from window_causal_backward_forward.
 * Extra memory: O(L·(dv + 2)) floats in JS (dnum, dden, c per query, as backward.ts) plus the fixed workspace.
 */
export function windowCausalBackward(f: PreparedFeatures, chunk: number, window: number, beta: number, s: ResolvedShape, q: Float32Array, k: Float32Array,
                                     v: Float32Array, dOut: Float32Array, mask: Uint8Array | undefined, g: Gradients): void {
  const rt = runtime();
  const e = rt.exports;
  const { dim: d, valueDim: dv, queries: Lq, keys: Lk } = s;
  const { mp, Mp } = f;
  const { w, C } = windowSizes(chunk, window, s);
  const band = C + w;
  const tile = C * e.window_tile_stride(w);
  const plan = planWorkspace({
    wt: projectionFloats(f), q: C * d, dOut: C * dv, kLag: C * d, vLag: C * dv, maskLag: Math.ceil(C / 4),
    kb: band * d, vb: band * dv, maskB: Math.ceil(band / 4), u: C * mp, phiQ: C * Mp, phiK: C * Mp, h: C, top: C, cK: C, c: C,
    den: C, A: C * C, Bq: C * C, S32: Mp * dv, z32: Mp, Lg: tile, G: tile, E: tile, tRow: C, fsRow: C, gU: C * dv, gam: C,
    dnum: C * dv, dden: C, dphiQ: C * Mp, du: C * mp, dh: C, out: C * dv, S: 2 * Mp * dv, z: 2 * Mp, run: 2,
    dq: C * d, dqx: C * d, dkb: band * d, dvb: band * dv, R: 2 * Mp * dv, r: 2 * Mp, rho: 2, tmpK: C * Mp, tmpV: C * dv,
    colSum: Mp, dS32: Mp * dv, dz32: Mp, dx: C * d, dvOut: C * dv,
  });
  checkWorkspaceBytes(plan.bytes);
  const base = rt.scratch(plan.bytes);
  const at = (region: keyof typeof plan.offsets) => base + plan.offsets[region];
  const wt = writeProjection(rt, f, at('wt'));
  const kind = f.map.id;
  const common = [d, dv, wt, f.m, mp, f.hScale, f.a, f.epsilon] as const;
  const shift = Lk - Lq;
  const blind = Math.max(0, -shift);
  const older = Math.max(0, blind + shift - w - 1);
  const rows = Lq - blind;
  g.dk.fill(0);
  g.dv.fill(0);
  /** Adds lagged rows' key gradients (row j ↔ key from + j) for the keys that exist. */
  const addLagged = (head: number, from: number, n: number) => {
    const skip = Math.max(0, -from);
    if (skip >= n) return;
    addInto(g.dk, (head * Lk + from + skip) * d, rt.view(at('dx') + skip * d * 4, (n - skip) * d));
    addInto(g.dv, (head * Lk + from + skip) * dv, rt.view(at('dvOut') + skip * dv * 4, (n - skip) * dv));
  };

  for (let b = 0; b < s.batch; b++) {
    for (let hd = 0; hd < s.heads; hd++) {
      const head = b * s.heads + hd;
      const st = { S: at('S'), z: at('z'), run: at('run') };
      clearState(rt, st, f, dv);
      g.dq.fill(0, head * Lq * d, (head * Lq + blind) * d);
      for (let j = 0; j < older; j += C) { // keys older than the first query's window
        const n = Math.min(C, older - j);
        writeRows(rt, k, v, mask, head * Lk, b * Lk, Lk, d, dv, j, j + n, at('kLag'), at('vLag'), at('maskLag'));
        e.favor_accumulate(kind, at('kLag'), at('vLag'), n, ...common, at('maskLag'),
          at('u'), at('phiK'), at('h'), at('top'), at('cK'), at('S32'), at('z32'), st.S, st.z, st.run);
      }
      const cOlder = rt.f64[st.run >>> 3];
      // forward sweep: dq, the window's key gradients, and per query dnum, dden, c for the reverse sweep
      const dnum = new Float32Array(rows * dv);
      const dden = new Float32Array(rows);
      const cRow = new Float32Array(rows);
      for (let i = 0; i < rows; i += C) {
        const n = Math.min(C, rows - i);
        const pFirst = blind + i + shift;
        const kb0 = Math.max(0, pFirst - w);
        const nb = pFirst + n - kb0;
        rt.write(at('q'), q.subarray((head * Lq + blind + i) * d, (head * Lq + blind + i + n) * d));
        rt.write(at('dOut'), dOut.subarray((head * Lq + blind + i) * dv, (head * Lq + blind + i + n) * dv));
        writeRows(rt, k, v, mask, head * Lk, b * Lk, Lk, d, dv, pFirst - w - 1, pFirst - w - 1 + n, at('kLag'), at('vLag'), at('maskLag'));
        writeRows(rt, k, v, mask, head * Lk, b * Lk, Lk, d, dv, kb0, kb0 + nb, at('kb'), at('vb'), at('maskB'));
        e.window_causal_backward_forward(kind, at('q'), at('dOut'), at('kLag'), at('vLag'), at('maskLag'), at('kb'), at('vb'), at('maskB'), n, nb,
          ...common, at('u'), at('phiQ'), at('phiK'), at('h'), at('top'), at('cK'), at('den'), at('A'), at('S32'), at('z32'),
          at('Lg'), at('G'), at('E'), at('tRow'), at('fsRow'), at('gU'), at('gam'), at('dnum'), at('dden'), at('dphiQ'), at('du'), at('dh'), at('Bq'),
          kb0, pFirst, w, beta, at('out'), st.S, st.z, st.run, at('dq'), at('dqx'), at('dkb'), at('dvb'));
        g.dq.set(rt.view(at('dq'), n * d), (head * Lq + blind + i) * d);
        addInto(g.dk, (head * Lk + kb0) * d, rt.view(at('dkb'), nb * d));
        addInto(g.dv, (head * Lk + kb0) * dv, rt.view(at('dvb'), nb * dv));
        dnum.set(rt.view(at('dnum'), n * dv), i * dv);
        dden.set(rt.view(at('dden'), n), i);
        cRow.set(rt.view(at('cK'), n), i);
      }
      // reverse sweep on the lagged keys: their FAVOR+ gradients
      rt.f64.fill(0, at('R') >>> 3, (at('R') >>> 3) + Mp * dv);
      rt.f64.fill(0, at('r') >>> 3, (at('r') >>> 3) + Mp);
      rt.f64[at('rho') >>> 3] = -Infinity;
      const starts: number[] = [];
      for (let i = 0; i < rows; i += C) starts.push(i);
      for (const i of starts.reverse()) {
        const n = Math.min(C, rows - i);
        const lagFrom = blind + i + shift - w - 1;
        rt.write(at('q'), q.subarray((head * Lq + blind + i) * d, (head * Lq + blind + i + n) * d));
        writeRows(rt, k, v, mask, head * Lk, b * Lk, Lk, d, dv, lagFrom, lagFrom + n, at('kLag'), at('vLag'), at('maskLag'));
        rt.write(at('dnum'), dnum.subarray(i * dv, (i + n) * dv));
        rt.write(at('dden'), dden.subarray(i, i + n));
        rt.write(at('cK'), cRow.subarray(i, i + n));
        e.favor_causal_backward_reverse(kind, at('q'), at('kLag'), at('vLag'), n, ...common, at('maskLag'),
          at('u'), at('phiQ'), at('phiK'), at('h'), at('top'), at('cK'), at('A'), at('Bq'), at('dnum'), at('dden'), at('dphiQ'), at('du'), at('dh'),
          at('R'), at('r'), at('rho'), at('S32'), at('z32'), at('tmpK'), at('tmpV'), at('colSum'), at('dx'), at('dvOut'));
        addLagged(head, lagFrom, n);
      }
      // the older keys: every query's suffix sums, at their stabilizer
      if (older) {
        e.suffix_to_state_grad(at('R'), at('r'), at('rho'), cOlder, at('dS32'), at('dz32'), Mp, dv);
        rt.f32.fill(cOlder, at('c') >>> 2, (at('c') >>> 2) + C);
        for (let j = 0; j < older; j += C) {
          const n = Math.min(C, older - j);
          writeRows(rt, k, v, mask, head * Lk, b * Lk, Lk, d, dv, j, j + n, at('kLag'), at('vLag'), at('maskLag'));
          e.favor_backward_keys(kind, at('kLag'), at('vLag'), at('maskLag'), n, ...common, at('dS32'), at('dz32'), at('c'),
            at('u'), at('phiK'), at('h'), at('top'), at('dphiQ'), at('du'), at('dh'), at('dx'), at('dvOut'));
          addLagged(head, j, n);
        }
      }
    }
  }
}

/** target[from + i] += source[i]: a head's key gradients gathered from the band and the lagged rows. */
function addInto(target: Float32Array, from: number, source: Float32Array): void {
  for (let i = 0; i < source.length; i++) target[from + i] += source[i];
}
