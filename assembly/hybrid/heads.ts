// The whole-head drivers of hybrid attention (exact window + FAVOR+, assembly/hybrid/forward.ts) for the thread pool:
// one job per head, the same chunk loops as the one-thread pass (hybrid_bidirectional, hybrid_causal), so a head's
// result is bit-identical to it.
import { FeatureMap, Hybrid, Pass, Workspace } from '../descriptors';
import { accumulateRows, favor_accumulate } from '../favor/bidirectional';
import { hybrid_bidirectional, hybrid_causal } from './forward';
import { state_clear, state_to_f32 } from '../favor/state';

/**
 * One bidirectional head: every key (pass.keys rows at pass.k, pass.v, pass.mask; hy.first = 0, hy.keys = pass.keys)
 * into an emptied state, then hybrid_bidirectional over every query (hy.cached = hy.cachedEnd = 0).
 */
export function hybrid_bidirectional_head(fm: FeatureMap, pass: Pass, ws: Workspace, hy: Hybrid): void {
  state_clear(ws.S, ws.z, ws.run, fm.Mp, pass.valueDim);
  favor_accumulate(fm, pass, ws);
  state_to_f32(ws.S, ws.z, ws.S32, ws.z32, fm.Mp, pass.valueDim);
  hybrid_bidirectional(fm, pass, ws, hy);
}

/**
 * One causal head, from its first query aligned to a key (hy.position ≥ 0): the keys older than that query's window
 * into an emptied state, chunk by chunk from key 0, then hybrid_causal. pass.k, pass.v, pass.mask as hybrid_causal's:
 * the head's keys from hy.first = −(w + 1), the rows before key 0 zero and masked.
 */
export function hybrid_causal_head(fm: FeatureMap, pass: Pass, ws: Workspace, hy: Hybrid): void {
  const dv = pass.valueDim;
  state_clear(ws.S, ws.z, ws.run, fm.Mp, dv);
  const older = max(0, hy.position - hy.window - 1);
  const at = -hy.first; // row of key 0
  accumulateRows(fm, ws, pass.k + (<usize>(at * fm.dim) << 2), pass.v + (<usize>(at * dv) << 2), pass.mask + <usize>at, older, pass.chunk, dv);
  hybrid_causal(fm, pass, ws, hy);
}
