// The whole-head driver of hybrid attention (exact window + FAVOR+, assembly/hybrid/window.ts) for the thread
// pool: the chunk loops of src/hybrid/window.ts run inside wasm on one head already in memory, so that a
// worker needs no JavaScript between chunks, with the same arithmetic as the one-thread pass (bit-identical).
// Its many pointers come in one workspace descriptor: i32 words at `desc` (f32 words where noted), below.
import { favor_state_to_f32 } from '../favor/favor';
import { isTwoBlock } from '../feature-maps/features';
import { window_bidirectional_chunk, window_causal_chunk } from '../hybrid/window';
import { head_accumulate, state_clear } from './heads';

// descriptor words
const Q = 0, K = 1, V = 2, MASK = 3, OUT = 4, LQ = 5, LK = 6, D = 7, DV = 8, WT = 9, M = 10, MP = 11;
const HSCALE = 12, A_SCALE = 13, EPS = 14; // f32
const C_ROWS = 15, W = 16, CAUSAL = 17;
const U = 18, PHI = 19, H = 20, TOP = 21, CROW = 22, TMPS = 23, COLSUM = 24, S = 25, Z = 26, RUN = 27, S32 = 28, Z32 = 29;
const HK = 30, PHIK = 31, DEN = 32, LG = 33, G = 34, A = 35, KLAG = 36, VLAG = 37, MASKLAG = 38, PHIQ = 39;
const BETA = 40; // f32: estimateLogScale
/** Words in a descriptor. */
export const WINDOW_DESCRIPTOR_WORDS = 41;

@inline function word(desc: usize, i: i32): i32 {
  return load<i32>(desc + (<usize>i << 2));
}

@inline function ptr(desc: usize, i: i32): usize {
  return <usize>load<u32>(desc + (<usize>i << 2));
}

@inline function real(desc: usize, i: i32): f32 {
  return load<f32>(desc + (<usize>i << 2));
}

/** One whole head, bidirectional or causal (query i aligned to key i + Lk − Lq; queries before key 0 get zeros). */
export function head_window(kind: i32, desc: usize): void {
  const q = ptr(desc, Q), k = ptr(desc, K), v = ptr(desc, V), mask = ptr(desc, MASK), out = ptr(desc, OUT);
  const Lq = word(desc, LQ), Lk = word(desc, LK), d = word(desc, D), dv = word(desc, DV), wt = ptr(desc, WT);
  const m = word(desc, M), mp = word(desc, MP), hScale = real(desc, HSCALE), a = real(desc, A_SCALE), eps = real(desc, EPS);
  const C = word(desc, C_ROWS), w = word(desc, W), beta = real(desc, BETA);
  const Mp = isTwoBlock(kind) ? 2 * mp : mp;
  const Sp = ptr(desc, S), zp = ptr(desc, Z), run = ptr(desc, RUN);
  const shift = Lk - Lq;
  state_clear(Sp, zp, run, Mp, dv);
  if (!word(desc, CAUSAL)) {
    head_accumulate(kind, k, v, mask, Lk, d, dv, wt, m, mp, hScale, a, eps, C, ptr(desc, U), ptr(desc, PHI), ptr(desc, H), ptr(desc, TOP),
                    ptr(desc, CROW), ptr(desc, TMPS), ptr(desc, COLSUM), Sp, zp, run);
    favor_state_to_f32(Sp, zp, ptr(desc, S32), ptr(desc, Z32), Mp, dv);
    const cK = <f32>load<f64>(run);
    let prevKb0 = 0, prevEnd = 0; // the previous chunk's band (its φ(k) rows are reused where the bands overlap)
    for (let i = 0; i < Lq; i += C) {
      const rows = min(C, Lq - i);
      const pFirst = i + shift;
      const kb0 = max(0, pFirst - w);
      const nb = max(0, min(Lk, pFirst + rows + w) - kb0);
      const keep = max(0, min(prevEnd, kb0 + nb) - kb0);
      window_bidirectional_chunk(kind, q + (<usize>(i * d) << 2), k + (<usize>(kb0 * d) << 2), v + (<usize>(kb0 * dv) << 2),
        mask ? mask + <usize>kb0 : 0, rows, nb, d, dv, wt, m, mp, hScale, a, eps, cK, ptr(desc, S32), ptr(desc, Z32),
        ptr(desc, U), ptr(desc, H), ptr(desc, TOP), ptr(desc, HK), ptr(desc, CROW), ptr(desc, PHI), ptr(desc, PHIK),
        ptr(desc, DEN), ptr(desc, LG), ptr(desc, G), kb0, Lk, pFirst, w, beta, keep, kb0 - prevKb0, out + (<usize>(i * dv) << 2));
      prevKb0 = kb0;
      prevEnd = kb0 + nb;
    }
    return;
  }
  const blind = max(0, -shift);
  memory.fill(out, 0, <usize>(blind * dv) << 2);
  const kLag = ptr(desc, KLAG), vLag = ptr(desc, VLAG), maskLag = ptr(desc, MASKLAG);
  // keys older than the first query's window, at once; then each chunk with its lagged keys (w + 1 behind)
  const older = max(0, blind + shift - w - 1);
  head_accumulate(kind, k, v, mask, older, d, dv, wt, m, mp, hScale, a, eps, C, ptr(desc, U), ptr(desc, PHIK), ptr(desc, H), ptr(desc, TOP),
                  ptr(desc, CROW), ptr(desc, S32), ptr(desc, Z32), Sp, zp, run);
  for (let i = blind; i < Lq; i += C) {
    const rows = min(C, Lq - i);
    const pFirst = i + shift;
    const kb0 = max(0, pFirst - w);
    lagRows(k, v, mask, d, dv, pFirst - w - 1, rows, kLag, vLag, maskLag);
    window_causal_chunk(kind, q + (<usize>(i * d) << 2), kLag, vLag, maskLag, k + (<usize>(kb0 * d) << 2), v + (<usize>(kb0 * dv) << 2),
      mask ? mask + <usize>kb0 : 0, rows, pFirst + rows - kb0, d, dv, wt, m, mp, hScale, a, eps,
      ptr(desc, U), ptr(desc, PHIQ), ptr(desc, PHIK), ptr(desc, H), ptr(desc, TOP), ptr(desc, CROW), ptr(desc, DEN), ptr(desc, A),
      ptr(desc, S32), ptr(desc, Z32), ptr(desc, LG), ptr(desc, G), kb0, pFirst, w, beta, out + (<usize>(i * dv) << 2), Sp, zp, run);
  }
}

/** Keys and values from..from+rows into kLag, vLag, maskLag: rows before key 0 zero and masked; every real row kept unless masked. */
function lagRows(k: usize, v: usize, mask: usize, d: i32, dv: i32, from: i32, rows: i32, kLag: usize, vLag: usize, maskLag: usize): void {
  const before = min(rows, max(0, -from));
  memory.fill(kLag, 0, <usize>(before * d) << 2);
  memory.fill(vLag, 0, <usize>(before * dv) << 2);
  memory.fill(maskLag, 0, <usize>before);
  const n = rows - before;
  if (n <= 0) return;
  const j = from + before;
  memory.copy(kLag + (<usize>(before * d) << 2), k + (<usize>(j * d) << 2), <usize>(n * d) << 2);
  memory.copy(vLag + (<usize>(before * dv) << 2), v + (<usize>(j * dv) << 2), <usize>(n * dv) << 2);
  if (mask) memory.copy(maskLag + <usize>before, mask + <usize>j, <usize>n);
  else memory.fill(maskLag + <usize>before, 1, <usize>n);
}
