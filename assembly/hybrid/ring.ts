// Recurrent decoding with the exact window (hybrid attention, docs/design.md §1b; assembly/hybrid/forward.ts): each
// sequence keeps a ring of its last R = w + 1 keys and values beside its FAVOR+ state. Step t reads the key
// t − R (it leaves the window) out of the ring into the state, writes key t in its place, and reads out
// query t against the state (keys ≤ t − R) plus the window [t − w, t] exactly, in one normalizer.
//
// Memory contract: ring.keys (count × 2R × d) and ring.values (count × 2R × dv) hold every key twice, at slot
// j mod R and j mod R + R, so that the last R keys always sit in one contiguous run (rows s + 1 .. s + R after key t
// went to slot s = t mod R). ring.kLag, ring.vLag: count × d, count × dv scratch; ring.vd, ring.acc: dv f64 each.
import { queryFeatures } from '../favor/favor';
import { NO_KEY_LIMIT, PAST_ONLY, KEEP_NOTHING, windowTiles } from './forward';
import { decoderKeys, updateAndReadParts } from '../decoder/decoder';
import { FeatureMap, Hybrid, HybridRing, Pass, Workspace } from '../descriptors';

/**
 * One token of pass.queries sequences (count) at position hy.position = t, window hy.window, β hy.beta: pass.q, pass.k
 * (count × dim), pass.v (count × valueDim) in, pass.out (count × valueDim) out. The state per sequence r is ws.S,
 * ws.z, ws.run at r·Mp·dv, r·Mp (f64) and r (f64); scratch ws.u count × mp, ws.phi, ws.phiK count × Mp, ws.h, ws.top,
 * ws.c, ws.den count, hy.Lg, hy.G 16 × hybrid_tile_stride(w).
 */
export function hybrid_decoder_step(fm: FeatureMap, pass: Pass, ws: Workspace, hy: Hybrid, ring: HybridRing): void {
  const d = fm.dim, Mp = fm.Mp;
  const q = pass.q, k = pass.k, v = pass.v, out = pass.out, count = pass.queries, dv = pass.valueDim;
  const phiQ = ws.phi, phiK = ws.phiK, top = ws.top, cRow = ws.c, den = ws.den, S = ws.S, z = ws.z, run = ws.run;
  const ringK = ring.keys, ringV = ring.values, kLag = ring.kLag, vLag = ring.vLag, vd = ring.vd, acc = ring.acc;
  const w = hy.window;
  const t = hy.position;
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
    decoderKeys(fm, ws, kLag, count, dv);
  } else {
    memory.fill(phiK, 0, <usize>(count * Mp) << 2);
    for (let r = 0; r < count; r++) store<f32>(cRow + (<usize>r << 2), <f32>load<f64>(run + (<usize>r << 3)));
  }
  queryFeatures(fm, q, count, ws.u, ws.h, top, phiQ);

  const stateBytes = <usize>(Mp * dv) << 3;
  const nb = min(t, w) + 1; // keys [t − nb + 1, t]
  const bandRow = slot + R - (nb - 1);
  for (let r = 0; r < count; r++) {
    const o = out + <usize>r * vRow;
    const dn = updateAndReadParts(phiQ + (<usize>(r * Mp) << 2), phiK + (<usize>(r * Mp) << 2), vLag + <usize>r * vRow,
                                  S + <usize>r * stateBytes, z + (<usize>(r * Mp) << 3), Mp, dv, vd, acc);
    for (let c = 0; c < dv; c++) store<f32>(o + (<usize>c << 2), <f32>load<f64>(acc + (<usize>c << 3)));
    store<f32>(den + (<usize>r << 2), <f32>dn);
    windowTiles(hy, q + <usize>r * kRow, ringK + <usize>(2 * R * r + bandRow) * kRow, ringV + <usize>(2 * R * r + bandRow) * vRow, 0,
                1, d, dv, phiQ + (<usize>(r * Mp) << 2), 0, Mp, top + (<usize>r << 2), cRow + (<usize>r << 2), den + (<usize>r << 2),
                t - nb + 1, NO_KEY_LIMIT, t, PAST_ONLY, o, KEEP_NOTHING);
  }
}
