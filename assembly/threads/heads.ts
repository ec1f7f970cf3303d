// Whole-head drivers for the thread pool: the chunk loops of src/favor/bidirectional.ts and src/favor/causal.ts,
// run inside wasm on inputs already in memory, so that a worker needs no JavaScript between chunks.
// Each caller (thread) passes its own scratch: u, phi, h, top, c, tmpS, colSum as in favor.ts, and for
// causal phiK, den, A as in causal.ts. S, z (f64) and run (f64) are the state the driver works on.
import { favor_accumulate, favor_readout } from '../favor/favor';
import { favor_causal_chunk } from '../favor/causal';
import { isTwoBlock } from '../feature-maps/features';
import { stateToF32 } from '../favor/state';

/** Empties a state: S = 0, z = 0, c = −∞. */
export function state_clear(S: usize, z: usize, run: usize, Mp: i32, dv: i32): void {
  memory.fill(S, 0, <usize>(Mp * dv) << 3);
  memory.fill(z, 0, <usize>Mp << 3);
  store<f64>(run, -Infinity);
}

/** Adds rows keys/values (k rows × d, v rows × dv, mask 0 or rows bytes) to the state, C rows per chunk. */
export function head_accumulate(kind: i32, k: usize, v: usize, mask: usize, rows: i32, d: i32, dv: i32, wt: usize, m: i32, mp: i32,
                                hScale: f32, a: f32, eps: f32, C: i32,
                                u: usize, phi: usize, h: usize, top: usize, c: usize, tmpS: usize, colSum: usize,
                                S: usize, z: usize, run: usize): void {
  for (let j = 0; j < rows; j += C) {
    const n = min(C, rows - j);
    favor_accumulate(kind, k + (<usize>(j * d) << 2), v + (<usize>(j * dv) << 2), n, d, dv, wt, m, mp, hScale, a, eps,
                     mask ? mask + <usize>j : 0, u, phi, h, top, c, tmpS, colSum, S, z, run);
  }
}

/** Reads out rows queries (q rows × d) into out (rows × dv) from S32, z32, C rows per chunk. */
export function head_readout(kind: i32, q: usize, out: usize, rows: i32, d: i32, dv: i32, wt: usize, m: i32, mp: i32,
                             hScale: f32, a: f32, eps: f32, C: i32,
                             u: usize, phi: usize, h: usize, top: usize, c: usize, S32: usize, z32: usize): void {
  for (let i = 0; i < rows; i += C) {
    const n = min(C, rows - i);
    favor_readout(kind, q + (<usize>(i * d) << 2), n, d, dv, wt, m, mp, hScale, a, eps, u, phi, h, top, c, S32, z32,
                  out + (<usize>(i * dv) << 2));
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

/** One whole bidirectional head: clear the state, accumulate every key, convert, read out every query. */
export function head_bidirectional(kind: i32, q: usize, k: usize, v: usize, mask: usize, out: usize, Lq: i32, Lk: i32, d: i32, dv: i32,
                                   wt: usize, m: i32, mp: i32, hScale: f32, a: f32, eps: f32, C: i32,
                                   u: usize, phi: usize, h: usize, top: usize, c: usize, tmpS: usize, colSum: usize,
                                   S: usize, z: usize, run: usize, S32: usize, z32: usize): void {
  const Mp = isTwoBlock(kind) ? 2 * mp : mp;
  state_clear(S, z, run, Mp, dv);
  head_accumulate(kind, k, v, mask, Lk, d, dv, wt, m, mp, hScale, a, eps, C, u, phi, h, top, c, tmpS, colSum, S, z, run);
  stateToF32(S, z, S32, z32, Mp, dv);
  head_readout(kind, q, out, Lq, d, dv, wt, m, mp, hScale, a, eps, C, u, phi, h, top, c, S32, z32);
}

/**
 * One whole causal head on aligned rows: `prefix` keys that every query sees first (accumulated), then
 * `rows` queries against the next `rows` keys in causal chunks. k, v, mask start at the first prefix key.
 */
export function head_causal(kind: i32, q: usize, k: usize, v: usize, mask: usize, out: usize, rows: i32, prefix: i32, d: i32, dv: i32,
                            wt: usize, m: i32, mp: i32, hScale: f32, a: f32, eps: f32, C: i32,
                            u: usize, phiQ: usize, phiK: usize, h: usize, top: usize, cK: usize, den: usize, A: usize,
                            S32: usize, z32: usize, S: usize, z: usize, run: usize): void {
  const Mp = isTwoBlock(kind) ? 2 * mp : mp;
  state_clear(S, z, run, Mp, dv);
  head_accumulate(kind, k, v, mask, prefix, d, dv, wt, m, mp, hScale, a, eps, C, u, phiK, h, top, cK, S32, z32, S, z, run);
  const k0 = k + (<usize>(prefix * d) << 2);
  const v0 = v + (<usize>(prefix * dv) << 2);
  const m0 = mask ? mask + <usize>prefix : 0;
  for (let i = 0; i < rows; i += C) {
    const n = min(C, rows - i);
    favor_causal_chunk(kind, q + (<usize>(i * d) << 2), k0 + (<usize>(i * d) << 2), v0 + (<usize>(i * dv) << 2), n, d, dv, wt, m, mp,
                       hScale, a, eps, m0 ? m0 + <usize>i : 0, u, phiQ, phiK, h, top, cK, den, A, S32, z32,
                       out + (<usize>(i * dv) << 2), S, z, run);
  }
}
