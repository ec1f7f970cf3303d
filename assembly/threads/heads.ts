// States for the thread pool: emptying one, merging two, and head_accumulate (the scalar-argument chunk loop of
// keys into a state that the hybrid's whole-head drivers, window-heads.ts, still call; the descriptor version is
// accumulateRows in assembly/favor/bidirectional.ts). Scratch u, phi, h, top, c, tmpS, colSum as in favor.ts;
// S, z (f64) and run (f64) are the state.
import { favor_accumulate_chunk } from '../favor/favor';
import { clearState } from '../favor/state';

/** Empties a state: S = 0, z = 0, c = −∞. */
export function state_clear(S: usize, z: usize, run: usize, Mp: i32, dv: i32): void {
  clearState(S, z, run, Mp, dv);
}

/** Adds rows keys/values (k rows × d, v rows × dv, mask 0 or rows bytes) to the state, C rows per chunk. */
export function head_accumulate(kind: i32, k: usize, v: usize, mask: usize, rows: i32, d: i32, dv: i32, wt: usize, m: i32, mp: i32,
                                hScale: f32, a: f32, eps: f32, C: i32,
                                u: usize, phi: usize, h: usize, top: usize, c: usize, tmpS: usize, colSum: usize,
                                S: usize, z: usize, run: usize): void {
  for (let j = 0; j < rows; j += C) {
    const n = min(C, rows - j);
    favor_accumulate_chunk(kind, k + (<usize>(j * d) << 2), v + (<usize>(j * dv) << 2), n, d, dv, wt, m, mp, hScale, a, eps,
                     mask ? mask + <usize>j : 0, u, phi, h, top, c, tmpS, colSum, S, z, run);
  }
}

/** Merges state b into state a: both move to the larger stabilizer, then a += b (f64). */
export function state_merge(Sa: usize, za: usize, runA: usize, Sb: usize, zb: usize, runB: usize, Mp: i32, dv: i32): void {
  const ca = load<f64>(runA);
  const cb = load<f64>(runB);
  if (cb == -Infinity) return;
  const c = max(ca, cb);
  const fa = ca == -Infinity ? 0.0 : Math.exp(ca - c);
  const fb = Math.exp(cb - c);
  const n = Mp * dv;
  for (let i = 0; i < n; i++) {
    const p = Sa + (<usize>i << 3);
    store<f64>(p, load<f64>(p) * fa + load<f64>(Sb + (<usize>i << 3)) * fb);
  }
  for (let i = 0; i < Mp; i++) {
    const p = za + (<usize>i << 3);
    store<f64>(p, load<f64>(p) * fa + load<f64>(zb + (<usize>i << 3)) * fb);
  }
  store<f64>(runA, c);
}
