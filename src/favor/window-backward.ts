// Gradients of bidirectional hybrid attention (assembly/favor/window-backward.ts for the math): keys → (S, z) as in
// the forward pass; query chunks → dq, the window's gradients of their band of keys (added into dk, dv), and
// (dS, dz); keys again → their FAVOR+ gradients from (dS, dz) (favor_backward_keys, as in backward.ts). The
// workspace depends on the chunk, w, dim, valueDim and features, never on the sequence length.
import { accumulateHead } from './bidirectional.ts';
import { projectionFloats, writeProjection, type PreparedFeatures } from './features.ts';
import type { Gradients } from './backward.ts';
import { writeRows } from './window.ts';
import { checkWorkspaceBytes } from '../runtime/heap.ts';
import type { ResolvedShape } from '../arguments/shapes.ts';
import { planWorkspace, runtime } from '../runtime/wasm.ts';

export function windowBackward(f: PreparedFeatures, chunk: number, window: number, s: ResolvedShape, q: Float32Array, k: Float32Array,
                               v: Float32Array, dOut: Float32Array, mask: Uint8Array | undefined, g: Gradients): void {
  const rt = runtime();
  const e = rt.exports;
  const { dim: d, valueDim: dv, queries: Lq, keys: Lk } = s;
  const { mp, Mp } = f;
  const w = Math.min(window, Lq + Lk);
  const C = Math.min(chunk, Math.max(Lq, Lk));
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
  const shift = Lk - Lq;
  g.dk.fill(0);
  g.dv.fill(0);
  const add = (target: Float32Array, from: number, source: Float32Array) => {
    for (let i = 0; i < source.length; i++) target[from + i] += source[i];
  };

  for (let b = 0; b < s.batch; b++) {
    for (let hd = 0; hd < s.heads; hd++) {
      const head = b * s.heads + hd;
      accumulateHead(rt, f, C, s, k, v, mask, head, wt, at);
      e.favor_state_to_f32(at('S'), at('z'), at('S32'), at('z32'), Mp, dv);
      const cK = rt.f64[at('run') >>> 3];
      rt.f64.fill(0, at('dS') >>> 3, (at('dS') >>> 3) + Mp * dv);
      rt.f64.fill(0, at('dz') >>> 3, (at('dz') >>> 3) + Mp);
      for (let i = 0; i < Lq; i += C) {
        const rows = Math.min(C, Lq - i);
        const pFirst = i + shift;
        const kb0 = Math.max(0, pFirst - w);
        const nb = Math.max(0, Math.min(Lk, pFirst + rows + w) - kb0);
        rt.write(at('x'), q.subarray((head * Lq + i) * d, (head * Lq + i + rows) * d));
        rt.write(at('dOut'), dOut.subarray((head * Lq + i) * dv, (head * Lq + i + rows) * dv));
        writeRows(rt, k, v, mask, head * Lk, b * Lk, Lk, d, dv, kb0, kb0 + nb, at('kb'), at('vb'), at('mask'));
        e.window_backward_chunk(kind, at('x'), at('dOut'), at('kb'), at('vb'), at('mask'), rows, nb, d, dv, wt, f.m, mp, f.hScale, f.a, f.epsilon,
          cK, at('S32'), at('z32'), at('u'), at('h'), at('top'), at('hK'), at('c'), at('phi'), at('phiK'),
          at('den'), at('Lg'), at('G'), at('E'), at('tRow'), at('fsRow'), at('gU'), at('gam'), at('dnum'), at('dden'), at('dphiQ'), at('dphiK'),
          at('du'), at('dh'), at('tmpS'), at('colSum'), at('dS'), at('dz'),
          kb0, Lk, pFirst, w, at('out'), at('dq'), at('dqx'), at('dkx'), at('dkb'), at('dvb'));
        g.dq.set(rt.view(at('dq'), rows * d), (head * Lq + i) * d);
        if (nb) {
          add(g.dk, (head * Lk + kb0) * d, rt.view(at('dkb'), nb * d));
          add(g.dv, (head * Lk + kb0) * dv, rt.view(at('dvb'), nb * dv));
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
        add(g.dk, (head * Lk + j) * d, rt.view(at('dkx'), n * d));
        add(g.dv, (head * Lk + j) * dv, rt.view(at('dvb'), n * dv));
      }
    }
  }
}
