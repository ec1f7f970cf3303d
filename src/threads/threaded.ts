// FAVOR+ on the thread pool. Heads go in rounds, one head per lane (a lane = one job with its own
// workspace, run by whichever thread claims it), each head whole inside wasm by the chunk loop that the one-thread
// pass calls on staged blocks (favor_bidirectional, favor_causal), so a head's result is bit-identical to the
// one-thread pass. A single bidirectional head is split
// along the sequence instead: each lane adds a range of keys to a state of its own, the states are
// merged (rescaled to the larger stabilizer), and each lane reads out a range of queries; that
// changes the order of the sums, so it agrees with one thread to rounding, not bit for bit.
// Unlike the one-thread pass, a round copies whole heads into wasm memory: O(lanes·L·(d + dv)). A round
// has as many lanes as fit in roundBytes (at least one per thread): the threads then claim heads one at a
// time, so a thread slowed down by something else on the machine does not hold the others at the end of
// every pair of heads.

import { featureMapFloats, projectionAddress, writeFeatures, type PreparedFeatures } from '../feature-maps/features.ts';
import { PASS_BYTES, WORKSPACE_BYTES, writePass, writeWorkspace } from '../runtime/descriptors.ts';
import { checkWorkspaceBytes } from '../runtime/heap.ts';
import type { Job, Pool } from './pool.ts';
import type { ResolvedShape } from '../arguments/shapes.ts';
import { runtime, type Runtime } from '../runtime/wasm.ts';
import { planWorkspace, regionAddresses } from '../runtime/workspace.ts';

type Regions = Record<string, number>;

/** The workspace a round may take (lanes × the per-head layout); tests and benchmarks may change it. */
export const rounds = { roundBytes: 64 * 2 ** 20 };

/** Byte offsets of one lane's regions. */
function laneLayout(f: PreparedFeatures, C: number, s: ResolvedShape, causal: boolean) {
  const { mp, Mp } = f;
  const { dim: d, valueDim: dv, queries: Lq, keys: Lk } = s;
  return planWorkspace<string>({
    pass: PASS_BYTES / 4, ws: WORKSPACE_BYTES / 4, q: Lq * d, k: Lk * d, v: Lk * dv, mask: Math.ceil(Lk / 4), out: Lq * dv,
    u: C * mp, phi: C * Mp, phiK: causal ? C * Mp : 0, h: C, top: C, c: C, den: C, A: causal ? C * C : 0,
    tmpS: Mp * dv, colSum: Mp, S: 2 * Mp * dv, z: 2 * Mp, run: 2, S32: Mp * dv, z32: Mp,
  });
}

/** The feature map (fm; wt its projection region) and `lanes` lane blocks of `lane.bytes`. */
export function allocate(rt: Runtime, f: PreparedFeatures, lanes: number, lane: { bytes: number }): { fm: number; wt: number; lane: (l: number) => number } {
  const fmBytes = Math.ceil((featureMapFloats(f) * 4) / 64) * 64;
  const total = fmBytes + lanes * lane.bytes;
  checkWorkspaceBytes(total);
  const base = rt.scratch(total);
  const fm = writeFeatures(rt, f, base);
  return { fm, wt: projectionAddress(f, fm), lane: (l) => base + fmBytes + l * lane.bytes };
}


/** Every (batch, head) of a forward pass on the pool; causal or not. */
export function threadedForward(pool: Pool, f: PreparedFeatures, chunk: number, s: ResolvedShape, q: Float32Array, k: Float32Array,
                                v: Float32Array, mask: Uint8Array | undefined, out: Float32Array, causal: boolean): void {
  const heads = s.batch * s.heads;
  if (heads === 1 && !causal) return splitHead(pool, f, chunk, s, q, k, v, mask, out);
  const rt = runtime();
  const { dim: d, valueDim: dv, queries: Lq, keys: Lk } = s;
  const C = Math.min(chunk, Math.max(Lq, Lk));
  const layout = laneLayout(f, C, s, causal);
  const lanes = Math.min(heads, Math.max(pool.threads, Math.floor(rounds.roundBytes / layout.bytes)));
  const mem = allocate(rt, f, lanes, layout);
  const prefix = Math.max(0, Lk - Lq);
  const blind = Math.max(0, Lq - Lk);
  for (let first = 0; first < heads; first += lanes) {
    const jobs: Job[] = [];
    const ranges: [number, Regions][] = [];
    for (let l = 0; l < lanes && first + l < heads; l++) {
      const head = first + l;
      const r = regionAddresses(mem.lane(l), layout.offsets);
      const m = mask ? r.mask : 0;
      writeWorkspace(rt.data, r.ws, r);
      if (causal) {
        // the queries that see no key (blind) are skipped; the state is emptied with the head's inputs (below)
        writePass(rt.data, r.pass, { q: r.q + blind * d * 4, k: r.k, v: r.v, mask: m, out: r.out + blind * dv * 4, queries: Lq - blind, keys: Lk,
                                     prefix, valueDim: dv, chunk: C });
        jobs.push({ fn: 'favor_causal', args: [mem.fm, r.pass, r.ws] });
      } else {
        writePass(rt.data, r.pass, { q: r.q, k: r.k, v: r.v, mask: m, out: r.out, queries: Lq, keys: Lk, prefix: 0, valueDim: dv, chunk: C });
        jobs.push({ fn: 'favor_bidirectional', args: [mem.fm, r.pass, r.ws] });
      }
      ranges.push([head, r]);
    }
    // each head's inputs are copied in just before its job is published: the other threads start on the
    // first heads while this one copies the next
    pool.run(jobs, (i) => {
      const r = ranges[i][1];
      if (causal) rt.exports.state_clear(r.S, r.z, r.run, f.Mp, dv); // favor_causal continues the lane's state
      copyHeadIn(rt, s, ranges[i][0], r, q, k, v, mask);
    });
    for (const [head, r] of ranges) {
      out.set(rt.view(r.out, Lq * dv), head * Lq * dv);
      if (causal && blind) out.fill(0, head * Lq * dv, (head * Lq + blind) * dv);
    }
  }
}

/** One head's q, k, v (and its batch's mask bytes) into a lane's regions q, k, v, mask. */
export function copyHeadIn(rt: Runtime, s: ResolvedShape, head: number, r: Regions, q: Float32Array, k: Float32Array, v: Float32Array,
                           mask: Uint8Array | undefined): void {
  const { dim: d, valueDim: dv, queries: Lq, keys: Lk } = s;
  rt.write(r.q, q.subarray(head * Lq * d, (head + 1) * Lq * d));
  rt.write(r.k, k.subarray(head * Lk * d, (head + 1) * Lk * d));
  rt.write(r.v, v.subarray(head * Lk * dv, (head + 1) * Lk * dv));
  const b = Math.floor(head / s.heads);
  if (mask) rt.u8.set(mask.subarray(b * Lk, (b + 1) * Lk), r.mask);
}

/** One bidirectional head: keys split over the lanes into partial states, merged, then queries split. */
function splitHead(pool: Pool, f: PreparedFeatures, chunk: number, s: ResolvedShape, q: Float32Array, k: Float32Array,
                   v: Float32Array, mask: Uint8Array | undefined, out: Float32Array): void {
  const rt = runtime();
  const e = rt.exports;
  const { dim: d, valueDim: dv, queries: Lq, keys: Lk } = s;
  const C = Math.min(chunk, Math.max(Lq, Lk));
  const layout = laneLayout(f, C, s, false);
  const lanes = pool.threads;
  const mem = allocate(rt, f, lanes, layout);
  const io = regionAddresses(mem.lane(0), layout.offsets); // the head's inputs and output live in lane 0's regions
  const share = (n: number, l: number) => [Math.floor((n * l) / lanes), Math.floor((n * (l + 1)) / lanes)];
  const regions = Array.from({ length: lanes }, (_, l) => regionAddresses(mem.lane(l), layout.offsets));
  const keyRanges = regions.map((_, l) => share(Lk, l));

  const keyJobs: Job[] = regions.map((r, l) => {
    const [from, to] = keyRanges[l];
    e.state_clear(r.S, r.z, r.run, f.Mp, dv);
    writeWorkspace(rt.data, r.ws, r);
    writePass(rt.data, r.pass, { k: io.k + from * d * 4, v: io.v + from * dv * 4, mask: mask ? io.mask + from : 0, queries: 0, keys: to - from,
                                 prefix: 0, valueDim: dv, chunk: C });
    return { fn: 'favor_accumulate', args: [mem.fm, r.pass, r.ws] };
  });
  // each lane's keys and values are copied just before its job is published (Pool.run's prepare)
  pool.run(keyJobs, (l) => {
    const [from, to] = keyRanges[l];
    rt.write(io.k + from * d * 4, k.subarray(from * d, to * d));
    rt.write(io.v + from * dv * 4, v.subarray(from * dv, to * dv));
    if (mask) rt.u8.set(mask.subarray(from, to), io.mask + from);
  });
  for (const r of regions.slice(1)) e.state_merge(io.S, io.z, io.run, r.S, r.z, r.run, f.Mp, dv);
  e.state_to_f32(io.S, io.z, io.S32, io.z32, f.Mp, dv);

  // lanes with no queries (Lq < lanes) get no job; every lane reads lane 0's merged state
  const queryRanges = regions.map((_, l) => share(Lq, l)).filter(([from, to]) => to > from);
  const queryJobs: Job[] = queryRanges.map(([from, to], l) => {
    const r = regions[l];
    writeWorkspace(rt.data, r.ws, { ...r, S32: io.S32, z32: io.z32 });
    writePass(rt.data, r.pass, { q: io.q + from * d * 4, out: io.out + from * dv * 4, queries: to - from, keys: 0, prefix: 0, valueDim: dv, chunk: C });
    return { fn: 'favor_readout', args: [mem.fm, r.pass, r.ws] };
  });
  pool.run(queryJobs, (i) => {
    const [from, to] = queryRanges[i];
    rt.write(io.q + from * d * 4, q.subarray(from * d, to * d));
  });
  out.set(rt.view(io.out, Lq * dv));
}
