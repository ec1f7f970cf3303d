// Hybrid attention (src/hybrid/forward.ts) on the thread pool: heads go in rounds, one head per lane, each head whole
// inside wasm (hybrid_bidirectional_head / hybrid_causal_head, assembly/hybrid/heads.ts: the same chunk loops
// as the one-thread pass), so that a head's result is bit-identical to it.
import type { PreparedFeatures } from '../feature-maps/features.ts';
import { descriptorFloats, hybridFields } from '../hybrid/forward.ts';
import type { Job, Pool } from './pool.ts';
import type { ResolvedShape } from '../arguments/shapes.ts';
import { writeHybrid, writePass, writeWorkspace } from '../runtime/descriptors.ts';
import { runtime, type Runtime } from '../runtime/wasm.ts';
import { planWorkspace, regionAddresses } from '../runtime/workspace.ts';
import { allocate, copyHeadIn, rounds } from './threaded.ts';

/** Byte offsets of one lane's regions: its descriptors, the head's inputs (causal: after `pad` zero rows) and output, the scratch. */
function laneLayout(f: PreparedFeatures, C: number, w: number, pad: number, tile: number, s: ResolvedShape) {
  const { mp, Mp } = f;
  const { dim: d, valueDim: dv, queries: Lq, keys: Lk } = s;
  const band = Math.min(Lk, C + 2 * w);
  const rows = Math.max(C, band);
  const { pass, ws, hy } = descriptorFloats(f); // the feature map is shared by the lanes (allocate)
  return planWorkspace<string>({
    pass, ws, hy, q: Lq * d, k: (pad + Lk) * d, v: (pad + Lk) * dv, mask: Math.ceil((pad + Lk) / 4) + 1, out: Lq * dv,
    u: rows * mp, phi: C * Mp, h: rows, top: rows, c: rows, tmpS: Mp * dv, colSum: Mp, S: 2 * Mp * dv, z: 2 * Mp, run: 2,
    S32: Mp * dv, z32: Mp, hK: band, phiK: rows * Mp, den: C, Lg: tile, G: tile, A: C * C,
  });
}

/** Every (batch, head) of a hybrid forward pass on the pool, w the effective window. */
export function threadedHybridForward(pool: Pool, f: PreparedFeatures, chunk: number, w: number, beta: number, causal: boolean, s: ResolvedShape,
                                      q: Float32Array, k: Float32Array, v: Float32Array, mask: Uint8Array | undefined, out: Float32Array): void {
  const rt = runtime();
  const heads = s.batch * s.heads;
  const { dim: d, valueDim: dv, queries: Lq, keys: Lk } = s;
  const C = Math.min(chunk, Math.max(Lq, Lk));
  const pad = causal ? w + 1 : 0; // causal: the lagged keys of the first queries are zero, masked rows before key 0
  const layout = laneLayout(f, C, w, pad, 16 * rt.exports.hybrid_tile_stride(w), s);
  const lanes = Math.min(heads, Math.max(pool.threads, Math.floor(rounds.roundBytes / layout.bytes)));
  const mem = allocate(rt, f, lanes, layout);
  const shift = Lk - Lq; // query i is aligned to key i + shift
  const blind = causal ? Math.max(0, -shift) : 0; // causal queries aligned before key 0: zeros
  for (let first = 0; first < heads; first += lanes) {
    const jobs: Job[] = [];
    const ranges: [number, Record<string, number>][] = [];
    for (let l = 0; l < lanes && first + l < heads; l++) {
      const r = regionAddresses(mem.lane(l), layout.offsets);
      writeWorkspace(rt.data, r.ws, r);
      writePass(rt.data, r.pass, {
        q: r.q + blind * d * 4, k: r.k, v: r.v, mask: causal || mask ? r.mask : 0, out: r.out + blind * dv * 4,
        queries: Lq - blind, keys: pad + Lk, prefix: 0, valueDim: dv, chunk: C,
      });
      writeHybrid(rt.data, r.hy, { ...hybridFields(w, beta, r), keys: Lk, position: blind + shift, first: -pad, cached: 0, cachedEnd: 0 });
      jobs.push({ fn: causal ? 'hybrid_causal_head' : 'hybrid_bidirectional_head', args: [mem.fm, r.pass, r.ws, r.hy] });
      ranges.push([first + l, r]);
    }
    // each head's inputs are copied in just before its job is published (Pool.run's prepare)
    pool.run(jobs, (i) => copyPaddedHeadIn(rt, s, ranges[i][0], ranges[i][1], pad, q, k, v, mask));
    for (const [head, r] of ranges) {
      out.set(rt.view(r.out, Lq * dv), head * Lq * dv);
      if (blind) out.fill(0, head * Lq * dv, (head * Lq + blind) * dv);
    }
  }
}

/** copyHeadIn after `pad` zero, masked key rows; with a pad and no mask, every real key is kept (mask bytes 1). */
function copyPaddedHeadIn(rt: Runtime, s: ResolvedShape, head: number, r: Record<string, number>, pad: number,
                          q: Float32Array, k: Float32Array, v: Float32Array, mask: Uint8Array | undefined): void {
  const { dim: d, valueDim: dv, keys: Lk } = s;
  copyHeadIn(rt, s, head, { ...r, k: r.k + pad * d * 4, v: r.v + pad * dv * 4, mask: r.mask + pad }, q, k, v, mask);
  if (!pad) return;
  rt.f32.fill(0, r.k >>> 2, (r.k >>> 2) + pad * d);
  rt.f32.fill(0, r.v >>> 2, (r.v >>> 2) + pad * dv);
  rt.u8.fill(0, r.mask, r.mask + pad);
  if (!mask) rt.u8.fill(1, r.mask + pad, r.mask + pad + Lk);
}
