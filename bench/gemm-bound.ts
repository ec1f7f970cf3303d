// The GEMMs of a bidirectional FAVOR+ pass on their own: per key chunk and query chunk of C rows, the K or Q
// projection on the packed Wᵀ, Φ_Kᵀ·V and the read-out Φ_Q·S, on buffers of the same shapes (their own
// memory, not the pass's scratch), as many times as the pass has chunks. Timed in alternation with the pass
// (Context.measurePair), their time over the pass's is the favor table's "GEMM share": how close the pass
// runs to its GEMMs, which run hot in cache here (an optimistic bound).
import { randn } from './data.ts';
import { GEMM_BYTES, GEMM_NN, GEMM_NN_PACKED, GEMM_TN, runtime, writeGemm } from 'performer-wasm/internal';

export interface PassShape {
  L: number;
  /** batch·heads. */
  count: number;
  /** Rows per chunk (FavorAttention's chunkSize, or L when shorter). */
  C: number;
  d: number;
  dv: number;
  /** Projection rows m, and whether φ has two blocks (M = 2m). */
  m: number;
  twoBlock: boolean;
}

/** A call that runs the pass's GEMMs once; release() frees its buffers. */
export function passGemms(s: PassShape): { run: () => void; release: () => void } {
  const rt = runtime();
  const e = rt.exports;
  const mp = Math.ceil(s.m / 4) * 4;
  const Mp = s.twoBlock ? 2 * mp : mp;
  const { C, d, dv } = s;
  const sizes = { x: C * d, wt: d * mp, wtPacked: d * mp, u: C * mp, phi: C * Mp, v: C * dv, S: Mp * dv, tmpS: Mp * dv, out: C * dv };
  const at = Object.fromEntries(Object.entries(sizes).map(([key, n]) => [key, rt.heap.alloc(4 * n)])) as Record<keyof typeof sizes, number>;
  for (const [key, n] of Object.entries(sizes)) rt.write(at[key as keyof typeof sizes], randn(n, n, 0.1));
  e.gemm_pack_b(at.wt, d, mp, mp, at.wtPacked);
  // the chunks of one head: L = n·C + tail rows, as the pass cuts them
  const rows = [...Array<number>(Math.floor(s.L / C)).fill(C), ...(s.L % C ? [s.L % C] : [])];
  // per chunk size n: the Gemm descriptors of the projection, Φ_Kᵀ·V and Φ_Q·S, written once
  const sizesN = [...new Set(rows)];
  const desc = rt.heap.alloc(3 * GEMM_BYTES * sizesN.length);
  const calls = new Map(sizesN.map((n, i) => {
    const [project, state, readout] = [0, 1, 2].map((t) => desc + (3 * i + t) * GEMM_BYTES);
    writeGemm(rt.data, project, { a: at.x, b: at.wtPacked, c: at.u, M: n, N: mp, K: d, lda: d, ldb: 0, ldc: mp, accumulate: 0, op: GEMM_NN_PACKED });
    writeGemm(rt.data, state, { a: at.phi, b: at.v, c: at.tmpS, M: Mp, N: dv, K: n, lda: Mp, ldb: dv, ldc: dv, accumulate: 0, op: GEMM_TN });
    writeGemm(rt.data, readout, { a: at.phi, b: at.S, c: at.out, M: n, N: dv, K: Mp, lda: Mp, ldb: dv, ldc: dv, accumulate: 0, op: GEMM_NN });
    return [n, { project, state, readout }];
  }));
  const run = () => {
    for (let head = 0; head < s.count; head++) {
      for (const n of rows) {
        const g = calls.get(n)!;
        e.matmul(g.project); // keys
        e.matmul(g.state);
        e.matmul(g.project); // queries
        e.matmul(g.readout);
      }
    }
  };
  return { run, release: () => [...Object.values(at), desc].forEach((p) => rt.heap.release(p)) };
}
