// The GEMM-bound time of a bidirectional FAVOR+ pass: what the pass would take if it were nothing but its
// four GEMMs per chunk (the K and Q projections on the packed Wᵀ, Φ_Kᵀ·V, the read-out Φ_Q·S), each timed
// alone on one chunk's shapes, where it stays hot in cache (an optimistic bound), times the chunks. The
// favor table reports this time as a share of the measured pass: how close the pass runs to its GEMMs.
import type { Context } from './mode.ts';
import { randn } from './data.ts';
import { planWorkspace, runtime } from 'performer-wasm/internal';

export interface PassShape {
  /** Rows per chunk (FavorAttention's chunkSize, or L when shorter). */
  C: number;
  d: number;
  dv: number;
  /** Projection rows m, and whether φ has two blocks (M = 2m). */
  m: number;
  twoBlock: boolean;
}

/** ms of the GEMMs of one key chunk plus one query chunk of C rows. */
export function chunkGemmMs(ctx: Context, s: PassShape): number {
  const rt = runtime();
  const e = rt.exports;
  const mp = Math.ceil(s.m / 4) * 4;
  const Mp = s.twoBlock ? 2 * mp : mp;
  const { C, d, dv } = s;
  const plan = planWorkspace({ x: C * d, wt: d * mp, wtPacked: d * mp, u: C * mp, phi: C * Mp, v: C * dv, S: Mp * dv, tmpS: Mp * dv, out: C * dv });
  const base = rt.scratch(plan.bytes);
  const at = (region: keyof typeof plan.offsets) => base + plan.offsets[region];
  rt.write(at('x'), randn(C * d, 1));
  rt.write(at('wt'), randn(d * mp, 2));
  rt.write(at('phi'), randn(C * Mp, 3));
  rt.write(at('v'), randn(C * dv, 4));
  rt.write(at('S'), randn(Mp * dv, 5));
  e.gemm_pack_b(at('wt'), d, mp, mp, at('wtPacked'));
  const shape = `C=${C} d=${d} M=${Mp}`;
  const projection = ctx.measure(`GEMM bound: projection ${shape}`, () => e.gemm_nn_packed(at('x'), at('wtPacked'), at('u'), C, mp, d, d, mp, 0));
  const keysByValues = ctx.measure(`GEMM bound: Φ_Kᵀ·V ${shape}`, () => e.gemm_tn(at('phi'), at('v'), at('tmpS'), Mp, dv, C, Mp, dv, dv, 0));
  const readout = ctx.measure(`GEMM bound: Φ_Q·S ${shape}`, () => e.gemm_nn(at('phi'), at('S'), at('out'), C, dv, Mp, Mp, dv, dv, 0));
  return 2 * projection.medianMs + keysByValues.medianMs + readout.medianMs;
}
