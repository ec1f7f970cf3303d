// Recurrent decoding with the exact window (hybrid attention, design notes §1b; assembly/hybrid/window.ts): each
// sequence keeps a ring of its last R = w + 1 keys and values beside its FAVOR+ state. Step t reads the key
// t − R (it leaves the window) out of the ring into the state, writes key t in its place, and reads out
// query t against the state (keys ≤ t − R) plus the window [t − w, t] exactly, in one normalizer.
//
// Memory contract: ringK (count × 2R × d) and ringV (count × 2R × dv) hold every key twice, at slot j mod R and
// j mod R + R, so that the last R keys always sit in one contiguous run (rows s + 1 .. s + R after key t went
// to slot s = t mod R). kLag, vLag: count × d, count × dv scratch; den: count f32; Lg, G: window tiles
// (window_tile_stride); the rest as in decoder_step (decoder.ts).
import { isTwoBlock } from '../feature-maps/features';
import { queryFeatures } from '../favor/favor';
import { windowTiles } from './window';
import { decoderKeys, updateAndReadParts } from '../decoder/decoder';

export function window_decoder_step(kind: i32, q: usize, k: usize, v: usize, count: i32, d: i32, dv: i32, wt: usize, m: i32, mp: i32,
                                    hScale: f32, a: f32, eps: f32,
                                    u: usize, phiQ: usize, phiK: usize, h: usize, top: usize, cRow: usize, vd: usize, acc: usize,
                                    den: usize, Lg: usize, G: usize, kLag: usize, vLag: usize, ringK: usize, ringV: usize, w: i32, beta: f32, t: i32,
                                    S: usize, z: usize, run: usize, out: usize): void {
  const Mp = isTwoBlock(kind) ? 2 * mp : mp;
  const R = w + 1;
  const slot = t % R;
  const leaves = t >= R; // key t − R leaves the window now
  const kRow = <usize>d << 2;
  const vRow = <usize>dv << 2;
  for (let r = 0; r < count; r++) {
    const rk = ringK + <usize>(2 * R * r) * kRow;
    const rv = ringV + <usize>(2 * R * r) * vRow;
    const ks = rk + <usize>slot * kRow;
    const vs = rv + <usize>slot * vRow;
    if (leaves) {
      memory.copy(kLag + <usize>r * kRow, ks, kRow);
      memory.copy(vLag + <usize>r * vRow, vs, vRow);
    } else {
      memory.fill(vLag + <usize>r * vRow, 0, vRow); // φ(k) is zero below: S += 0·v must not meet garbage
    }
    memory.copy(ks, k + <usize>r * kRow, kRow);
    memory.copy(ks + <usize>R * kRow, k + <usize>r * kRow, kRow);
    memory.copy(vs, v + <usize>r * vRow, vRow);
    memory.copy(vs + <usize>R * vRow, v + <usize>r * vRow, vRow);
  }
  if (leaves) {
    decoderKeys(kind, kLag, count, d, dv, wt, m, mp, hScale, a, eps, u, phiK, h, top, cRow, S, z, run);
  } else {
    memory.fill(phiK, 0, <usize>(count * Mp) << 2);
    for (let r = 0; r < count; r++) store<f32>(cRow + (<usize>r << 2), <f32>load<f64>(run + (<usize>r << 3)));
  }
  queryFeatures(kind, q, count, d, wt, m, mp, hScale, a, eps, u, h, top, phiQ);

  const stateBytes = <usize>(Mp * dv) << 3;
  const nb = min(t, w) + 1; // keys [t − nb + 1, t]
  const bandRow = slot + R - (nb - 1);
  for (let r = 0; r < count; r++) {
    const o = out + <usize>r * vRow;
    const dn = updateAndReadParts(phiQ + (<usize>(r * Mp) << 2), phiK + (<usize>(r * Mp) << 2), vLag + <usize>r * vRow,
                                  S + <usize>r * stateBytes, z + (<usize>(r * Mp) << 3), Mp, dv, vd, acc);
    for (let c = 0; c < dv; c++) store<f32>(o + (<usize>c << 2), <f32>load<f64>(acc + (<usize>c << 3)));
    store<f32>(den + (<usize>r << 2), <f32>dn);
    windowTiles(q + <usize>r * kRow, ringK + <usize>(2 * R * r + bandRow) * kRow, ringV + <usize>(2 * R * r + bandRow) * vRow, 0,
                1, d, dv, phiQ + (<usize>(r * Mp) << 2), 0, Mp, top + (<usize>r << 2), cRow + (<usize>r << 2), den + (<usize>r << 2),
                Lg, G, t - nb + 1, 0x7fffffff, t, w, beta, true, o, 0, 0, 0, 0);
  }
}
