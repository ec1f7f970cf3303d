// Gradients of bidirectional hybrid attention (assembly/hybrid/backward.ts for the math): keys → (S, z) as in
// the forward pass; query chunks → dq, the window's gradients of their band of keys (added into dk, dv), and
// (dS, dz); keys again → their FAVOR+ gradients from (dS, dz) (favor_backward_keys, as in backward.ts). The
// workspace depends on the chunk, w, dim, valueDim and features, and on L only up to STAGING_ROWS staged keys.
import type { Gradients } from '../favor/backward.ts';
import { accumulateStaged, stageKeys, type StagedRegions } from '../favor/bidirectional.ts';
import { descriptorFloats, hybridFields, passSizes, writeRows } from './forward.ts';
import { clearState } from '../favor/causal.ts';
import { GRADIENTS_BYTES, HYBRID_GRADIENTS_BYTES, writeGradients, writeHybrid, writeHybridGradients, writePass, writeWorkspace } from '../runtime/descriptors.ts';
import { writeFeatures, type PreparedFeatures } from '../feature-maps/features.ts';
import { checkWorkspaceBytes } from '../runtime/heap.ts';
import type { ResolvedShape } from '../arguments/shapes.ts';
import { runtime, type Runtime } from '../runtime/wasm.ts';
import { planWorkspace, regionAddresses, stagingRows } from '../runtime/workspace.ts';

/** Places a planned workspace: its regions' addresses, the feature map written, the Workspace and HybridGradients descriptors filled. */
function place(rt: Runtime, f: PreparedFeatures, plan: { offsets: Record<string, number>; bytes: number }): Record<string, number> {
  checkWorkspaceBytes(plan.bytes);
  const r = regionAddresses(rt.scratch(plan.bytes), plan.offsets);
  writeFeatures(rt, f, r.fm);
  writeWorkspace(rt.data, r.ws, r);
  writeHybridGradients(rt.data, r.grad, r);
  return r;
}

export function hybridBackward(f: PreparedFeatures, chunk: number, window: number, beta: number, s: ResolvedShape, q: Float32Array, k: Float32Array,
                               v: Float32Array, dOut: Float32Array, mask: Uint8Array | undefined, g: Gradients): void {
  const rt = runtime();
  const e = rt.exports;
  const { d, dv, Lq, Lk, mp, Mp, w, C } = passSizes(f, chunk, window, s);
  const band = Math.min(Lk, C + 2 * w);
  const rowsMax = Math.max(C, band);
  const Bk = stagingRows(C, Lk); // keys per block of the state
  const staged = Math.max(Bk, rowsMax);
  const tile = C * e.hybrid_tile_stride(w);
  const r = place(rt, f, planWorkspace<string>({
    ...descriptorFloats(f), grad: HYBRID_GRADIENTS_BYTES / 4, grads: GRADIENTS_BYTES / 4,
    q: C * d, dOut: C * dv, k: staged * d, v: staged * dv, mask: Math.ceil(staged / 4) + 1,
    u: rowsMax * mp, phi: C * Mp, phiK: band * Mp, h: rowsMax, hK: band, top: rowsMax, c: rowsMax,
    tmpS: Mp * dv, colSum: Mp, S: 2 * Mp * dv, z: 2 * Mp, S32: Mp * dv, z32: Mp, den: C, Lg: tile, G: tile, E: tile, tRow: C, fsRow: C,
    gU: C * dv, gam: C, dnum: C * dv, dden: C, dphiQ: C * Mp, dphiK: rowsMax * Mp, du: rowsMax * mp, dh: rowsMax,
    dS: 2 * Mp * dv, dz: 2 * Mp, dS32: Mp * dv, dz32: Mp, out: C * dv, dq: C * d, dqx: C * d, dkx: rowsMax * d,
    dkb: band * d, dvb: rowsMax * dv, run: 2,
  }));
  // the keys' FAVOR+ gradients (favor_backward_keys) read the Workspace's u, phiK, h, top, c and these
  writeGradients(rt.data, r.grads, { dS32: r.dS32, dz32: r.dz32, dphi: r.dphiK, du: r.du, dh: r.dh, dk: r.dkx, dv: r.dvb });
  g.dk.fill(0);
  g.dv.fill(0);

  for (let b = 0; b < s.batch; b++) {
    for (let hd = 0; hd < s.heads; hd++) {
      const head = b * s.heads + hd;
      // the FAVOR+ state of every key, as in the forward pass
      accumulateStaged(rt, f, s, head, Bk, C, k, v, mask, r as StagedRegions);
      e.state_to_f32(r.S, r.z, r.S32, r.z32, Mp, dv);
      const cK = rt.f64[r.run >>> 3];
      rt.f64.fill(0, r.dS >>> 3, (r.dS >>> 3) + Mp * dv);
      rt.f64.fill(0, r.dz >>> 3, (r.dz >>> 3) + Mp);
      for (let i = 0; i < Lq; i += C) { // query chunks with the band of keys [kb0, kb0 + nb) their windows reach
        const rows = Math.min(C, Lq - i);
        const pFirst = i + Lk - Lq;
        const kb0 = Math.max(0, pFirst - w);
        const nb = Math.max(0, Math.min(Lk, pFirst + rows + w) - kb0);
        rt.write(r.q, q.subarray((head * Lq + i) * d, (head * Lq + i + rows) * d));
        rt.write(r.dOut, dOut.subarray((head * Lq + i) * dv, (head * Lq + i + rows) * dv));
        writeRows(rt, k, v, mask, head * Lk, b * Lk, Lk, d, dv, kb0, kb0 + nb, r.k, r.v, r.mask);
        writePass(rt.data, r.pass, { q: r.q, k: r.k, v: r.v, mask: r.mask, out: r.out, queries: rows, keys: nb, prefix: 0, valueDim: dv, chunk: C });
        writeHybrid(rt.data, r.hy, { ...hybridFields(w, beta, r), keys: Lk, position: pFirst, first: kb0, cached: 0, cachedEnd: 0 });
        e.hybrid_backward_chunk(r.fm, r.pass, r.ws, r.hy, r.grad);
        g.dq.set(rt.view(r.dq, rows * d), (head * Lq + i) * d);
        if (nb) {
          addInto(g.dk, (head * Lk + kb0) * d, rt.view(r.dkb, nb * d));
          addInto(g.dv, (head * Lk + kb0) * dv, rt.view(r.dvb, nb * dv));
        }
      }
      // the keys' FAVOR+ gradients from (dS, dz), at the key stabilizer of the forward pass
      e.state_to_f32(r.dS, r.dz, r.dS32, r.dz32, Mp, dv);
      rt.f32.fill(cK, r.c >>> 2, (r.c >>> 2) + C);
      for (let j = 0; j < Lk; j += C) {
        const n = Math.min(C, Lk - j);
        stageKeys(rt, s, head, j, n, C, k, v, mask, r as StagedRegions);
        e.favor_backward_keys(r.fm, r.pass, r.ws, r.grads);
        addInto(g.dk, (head * Lk + j) * d, rt.view(r.dkx, n * d));
        addInto(g.dv, (head * Lk + j) * dv, rt.view(r.dvb, n * dv));
      }
    }
  }
}

/**
 * Gradients of causal hybrid attention: the FAVOR+ part is the causal estimator on the keys w + 1 rows behind the
 * queries (as in the forward pass, forward.ts), so its gradients are ../favor/backward.ts's two sweeps on those lagged keys
 * with the hybrid's normalizer gradients; the window's exact part comes from hybrid_causal_backward_forward.
 * Extra memory: O(L·(dv + 2)) floats in JS (dnum, dden, c per query, as backward.ts) plus the fixed workspace.
 */
export function hybridCausalBackward(f: PreparedFeatures, chunk: number, window: number, beta: number, s: ResolvedShape, q: Float32Array, k: Float32Array,
                                     v: Float32Array, dOut: Float32Array, mask: Uint8Array | undefined, g: Gradients): void {
  const rt = runtime();
  const e = rt.exports;
  const { d, dv, Lq, Lk, mp, Mp, w, C } = passSizes(f, chunk, window, s);
  const shift = Lk - Lq;
  const blind = Math.max(0, -shift);
  const older = Math.max(0, blind + shift - w - 1);
  const rows = Lq - blind;
  const Bk = stagingRows(C, older); // older keys per block of the state
  const staged = Math.max(Bk, C + w + 1); // older keys, or a chunk's lagged keys and band (keys [p − w − 1, p + C))
  const tile = C * e.hybrid_tile_stride(w);
  const at = place(rt, f, planWorkspace<string>({
    ...descriptorFloats(f), grad: HYBRID_GRADIENTS_BYTES / 4, grads: GRADIENTS_BYTES / 4,
    q: C * d, dOut: C * dv, k: staged * d, v: staged * dv, mask: Math.ceil(staged / 4) + 1, kLag: C * d, vLag: C * dv, maskLag: Math.ceil(C / 4),
    u: C * mp, phi: C * Mp, phiK: C * Mp, h: C, top: C, c: C, den: C, A: C * C, Bq: C * C, S32: Mp * dv, z32: Mp, tmpS: Mp * dv,
    Lg: tile, G: tile, E: tile, tRow: C, fsRow: C, gU: C * dv, gam: C,
    dnum: C * dv, dden: C, dphiQ: C * Mp, du: C * mp, dh: C, out: C * dv, S: 2 * Mp * dv, z: 2 * Mp, run: 2,
    dq: C * d, dqx: C * d, dkb: (C + w) * d, dvb: (C + w) * dv, R: 2 * Mp * dv, r: 2 * Mp, rho: 2, tmpK: C * Mp, tmpV: C * dv,
    colSum: Mp, dS32: Mp * dv, dz32: Mp, dx: C * d, dvOut: C * dv,
  }));
  // the lagged and older keys' FAVOR+ gradients (favor_causal_backward_reverse, favor_backward_keys) read the Workspace's
  // u, phi, phiK, h, top, c, A, S32, z32, colSum and these; c holds each lagged row's key stabilizer
  writeGradients(rt.data, at.grads, { dk: at.dx, dv: at.dvOut, dphi: at.dphiQ, du: at.du, dh: at.dh, dnum: at.dnum, dden: at.dden, cRow: at.c,
                                      B: at.Bq, dS: at.R, dz: at.r, rho: at.rho, dS32: at.dS32, dz32: at.dz32, tmpK: at.tmpK, tmpV: at.tmpV });
  const lagged = (n: number) => writePass(rt.data, at.pass, { q: at.q, k: at.kLag, v: at.vLag, mask: at.maskLag, queries: n, keys: n, prefix: 0,
                                                               valueDim: dv, chunk: C });
  g.dk.fill(0);
  g.dv.fill(0);
  /** Adds lagged rows' key gradients (row j ↔ key from + j) for the keys that exist. */
  const addLagged = (head: number, from: number, n: number) => {
    const skip = Math.max(0, -from);
    if (skip >= n) return;
    addInto(g.dk, (head * Lk + from + skip) * d, rt.view(at.dx + skip * d * 4, (n - skip) * d));
    addInto(g.dv, (head * Lk + from + skip) * dv, rt.view(at.dvOut + skip * dv * 4, (n - skip) * dv));
  };

  for (let b = 0; b < s.batch; b++) {
    for (let hd = 0; hd < s.heads; hd++) {
      const head = b * s.heads + hd;
      clearState(rt, { S: at.S, z: at.z, run: at.run }, f, dv);
      g.dq.fill(0, head * Lq * d, (head * Lq + blind) * d);
      for (let j = 0; j < older; j += Bk) { // keys older than the first query's window
        const n = Math.min(Bk, older - j);
        writeRows(rt, k, v, mask, head * Lk, b * Lk, Lk, d, dv, j, j + n, at.k, at.v, at.mask);
        writePass(rt.data, at.pass, { k: at.k, v: at.v, mask: at.mask, queries: 0, keys: n, prefix: 0, valueDim: dv, chunk: C });
        e.favor_accumulate(at.fm, at.pass, at.ws);
      }
      const cOlder = rt.f64[at.run >>> 3];
      // forward sweep: dq, the window's key gradients, and per query dnum, dden, c for the reverse sweep
      const dnum = new Float32Array(rows * dv);
      const dden = new Float32Array(rows);
      const cRow = new Float32Array(rows);
      for (let i = 0; i < rows; i += C) {
        const n = Math.min(C, rows - i);
        const pFirst = blind + i + shift;
        const kb0 = Math.max(0, pFirst - w);
        const nb = pFirst + n - kb0;
        rt.write(at.q, q.subarray((head * Lq + blind + i) * d, (head * Lq + blind + i + n) * d));
        rt.write(at.dOut, dOut.subarray((head * Lq + blind + i) * dv, (head * Lq + blind + i + n) * dv));
        writeRows(rt, k, v, mask, head * Lk, b * Lk, Lk, d, dv, pFirst - w - 1, pFirst + n, at.k, at.v, at.mask);
        writePass(rt.data, at.pass, { q: at.q, k: at.k, v: at.v, mask: at.mask, out: at.out, queries: n, keys: n + w + 1, prefix: 0, valueDim: dv, chunk: C });
        writeHybrid(rt.data, at.hy, { ...hybridFields(w, beta, at), keys: Lk, position: pFirst, first: pFirst - w - 1, cached: 0, cachedEnd: 0 });
        e.hybrid_causal_backward_forward(at.fm, at.pass, at.ws, at.hy, at.grad);
        g.dq.set(rt.view(at.dq, n * d), (head * Lq + blind + i) * d);
        addInto(g.dk, (head * Lk + kb0) * d, rt.view(at.dkb, nb * d));
        addInto(g.dv, (head * Lk + kb0) * dv, rt.view(at.dvb, nb * dv));
        dnum.set(rt.view(at.dnum, n * dv), i * dv);
        dden.set(rt.view(at.dden, n), i);
        cRow.set(rt.view(at.c, n), i);
      }
      // reverse sweep on the lagged keys: their FAVOR+ gradients
      rt.f64.fill(0, at.R >>> 3, (at.R >>> 3) + Mp * dv);
      rt.f64.fill(0, at.r >>> 3, (at.r >>> 3) + Mp);
      rt.f64[at.rho >>> 3] = -Infinity;
      const starts: number[] = [];
      for (let i = 0; i < rows; i += C) starts.push(i);
      for (const i of starts.reverse()) {
        const n = Math.min(C, rows - i);
        const lagFrom = blind + i + shift - w - 1;
        rt.write(at.q, q.subarray((head * Lq + blind + i) * d, (head * Lq + blind + i + n) * d));
        writeRows(rt, k, v, mask, head * Lk, b * Lk, Lk, d, dv, lagFrom, lagFrom + n, at.kLag, at.vLag, at.maskLag);
        rt.write(at.dnum, dnum.subarray(i * dv, (i + n) * dv));
        rt.write(at.dden, dden.subarray(i, i + n));
        rt.write(at.c, cRow.subarray(i, i + n));
        lagged(n);
        e.favor_causal_backward_reverse(at.fm, at.pass, at.ws, at.grads);
        addLagged(head, lagFrom, n);
      }
      // the older keys: every query's suffix sums, at their stabilizer
      if (older) {
        e.suffix_to_state_grad(at.R, at.r, at.rho, cOlder, at.dS32, at.dz32, Mp, dv);
        rt.f32.fill(cOlder, at.c >>> 2, (at.c >>> 2) + C);
        for (let j = 0; j < older; j += C) {
          const n = Math.min(C, older - j);
          writeRows(rt, k, v, mask, head * Lk, b * Lk, Lk, d, dv, j, j + n, at.kLag, at.vLag, at.maskLag);
          lagged(n);
          e.favor_backward_keys(at.fm, at.pass, at.ws, at.grads);
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
