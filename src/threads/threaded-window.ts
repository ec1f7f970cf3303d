// Hybrid attention (src/hybrid/window.ts) on the thread pool: heads go in rounds, one head per lane, each head
// whole inside wasm (assembly/threads/window-heads.ts), so that a head's result is bit-identical to the
// one-thread pass. The kernel's pointers travel in a descriptor (WINDOW_DESCRIPTOR_WORDS words per lane).
import type { PreparedFeatures } from '../feature-maps/features.ts';
import type { Job, Pool } from './pool.ts';
import type { ResolvedShape } from '../arguments/shapes.ts';
import { runtime } from '../runtime/wasm.ts';
import { planWorkspace } from '../runtime/workspace.ts';
import { allocate, at, copyHeadIn, rounds } from './threaded.ts';

const DESCRIPTOR_WORDS = 41; // WINDOW_DESCRIPTOR_WORDS in assembly/threads/window-heads.ts

/** Byte offsets of one lane's regions: the head's inputs and output, the descriptor, and the scratch of either pass. */
function laneLayout(f: PreparedFeatures, C: number, w: number, tile: number, s: ResolvedShape) {
  const { mp, Mp } = f;
  const { dim: d, valueDim: dv, queries: Lq, keys: Lk } = s;
  const band = Math.min(Lk, C + 2 * w);
  const rows = Math.max(C, band);
  return planWorkspace<string>({
    desc: DESCRIPTOR_WORDS, q: Lq * d, k: Lk * d, v: Lk * dv, mask: Math.ceil(Lk / 4), out: Lq * dv,
    u: rows * mp, phi: C * Mp, h: rows, top: rows, c: rows, tmpS: Mp * dv, colSum: Mp, S: 2 * Mp * dv, z: 2 * Mp, run: 2,
    S32: Mp * dv, z32: Mp, hK: band, phiK: Math.max(band, C) * Mp, den: C, Lg: tile, G: tile, A: C * C,
    kLag: C * d, vLag: C * dv, maskLag: Math.ceil(C / 4), phiQ: C * Mp,
  });
}

/** Every (batch, head) of a hybrid forward pass on the pool, w the effective window. */
export function threadedWindowForward(pool: Pool, f: PreparedFeatures, chunk: number, w: number, beta: number, causal: boolean, s: ResolvedShape,
                                      q: Float32Array, k: Float32Array, v: Float32Array, mask: Uint8Array | undefined, out: Float32Array): void {
  const rt = runtime();
  const heads = s.batch * s.heads;
  const { valueDim: dv, queries: Lq, keys: Lk } = s;
  const C = Math.min(chunk, Math.max(Lq, Lk));
  const layout = laneLayout(f, C, w, 16 * rt.exports.window_tile_stride(w), s);
  const lanes = Math.min(heads, Math.max(pool.threads, Math.floor(rounds.roundBytes / layout.bytes)));
  const mem = allocate(rt, f, lanes, layout);
  for (let first = 0; first < heads; first += lanes) {
    const jobs: Job[] = [];
    const ranges: [number, Record<string, number>][] = [];
    for (let l = 0; l < lanes && first + l < heads; l++) {
      const r = at(mem.lane(l), layout.offsets);
      writeDescriptor(r, f, C, w, beta, causal, s, mask !== undefined, mem.wt);
      jobs.push({ fn: 'head_window', args: [f.map.id, r.desc] });
      ranges.push([first + l, r]);
    }
    // each head's inputs are copied in just before its job is published (Pool.run's prepare)
    pool.run(jobs, (i) => copyHeadIn(rt, s, ranges[i][0], ranges[i][1], q, k, v, mask));
    for (const [head, r] of ranges) out.set(rt.view(r.out, Lq * dv), head * Lq * dv);
  }
}

/** The descriptor of one lane (word order of assembly/threads/window-heads.ts). */
function writeDescriptor(r: Record<string, number>, f: PreparedFeatures, C: number, w: number, beta: number, causal: boolean, s: ResolvedShape,
                         masked: boolean, wt: number): void {
  const rt = runtime();
  const words = [
    r.q, r.k, r.v, masked ? r.mask : 0, r.out, s.queries, s.keys, s.dim, s.valueDim, wt, f.m, f.mp, 0, 0, 0, C, w, causal ? 1 : 0,
    r.u, r.phi, r.h, r.top, r.c, r.tmpS, r.colSum, r.S, r.z, r.run, r.S32, r.z32,
    r.hK, r.phiK, r.den, r.Lg, r.G, r.A, r.kLag, r.vLag, r.maskLag, r.phiQ, 0,
  ];
  new Uint32Array(rt.exports.memory.buffer, r.desc, DESCRIPTOR_WORDS).set(words);
  new Float32Array(rt.exports.memory.buffer, r.desc + 12 * 4, 3).set([f.hScale, f.a, f.epsilon]);
  new Float32Array(rt.exports.memory.buffer, r.desc + 40 * 4, 1)[0] = beta; // BETA
}
