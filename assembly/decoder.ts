// Recurrent decoding: the causal algorithm with one token per step (design notes §1). Each of `count`
// sequences (batch × heads) has its own state: S (Mp × dv f64) at S + r·Mp·dv·8, z (Mp f64) at
// z + r·Mp·8, and its key stabilizer c (f64) at run + r·8. Cost per token O(M·(d + dv)), whatever the position.
// q, k: count × d; v, out: count × dv. cRow: count f32 scratch; vd, acc: dv f64 scratch each.
import { feature_map, feature_row_stats, isTwoBlock } from './features';
import { queryFeatures, project_rows } from './favor';
import { carry, rescaleState } from './state';

export function decoder_step(kind: i32, q: usize, k: usize, v: usize, count: i32, d: i32, dv: i32, wt: usize, m: i32, mp: i32,
                             hScale: f32, a: f32, eps: f32,
                             u: usize, phiQ: usize, phiK: usize, h: usize, top: usize, cRow: usize, vd: usize, acc: usize,
                             S: usize, z: usize, run: usize, out: usize): void {
  const Mp = isTwoBlock(kind) ? 2 * mp : mp;
  const stateBytes = <usize>(Mp * dv) << 3;

  // keys: each state's stabilizer grows to cover the new key (rescaling S and z when it does)
  project_rows(k, count, d, wt, mp, u);
  feature_row_stats(kind, k, u, count, d, m, mp, hScale, h, top);
  for (let r = 0; r < count; r++) {
    const runPtr = run + (<usize>r << 3);
    const cOld = <f32>load<f64>(runPtr);
    const cNew = max(cOld, load<f32>(top + (<usize>r << 2)));
    if (cNew > cOld) {
      rescaleState(S + <usize>r * stateBytes, z + (<usize>(r * Mp) << 3), Mp, dv, <f64>carry(cOld, cNew));
      store<f64>(runPtr, <f64>cNew);
    }
    store<f32>(cRow + (<usize>r << 2), cNew);
  }
  feature_map(kind, u, count, m, mp, h, cRow, a, eps, phiK);
  queryFeatures(kind, q, count, d, wt, m, mp, hScale, a, eps, u, h, top, phiQ);

  for (let r = 0; r < count; r++) {
    updateAndRead(phiQ + (<usize>(r * Mp) << 2), phiK + (<usize>(r * Mp) << 2), v + (<usize>(r * dv) << 2),
                  S + <usize>r * stateBytes, z + (<usize>(r * Mp) << 3), Mp, dv, vd, acc, out + (<usize>(r * dv) << 2));
  }
}

/**
 * One pass over the state: S_f += φk_f·v and z_f += φk_f, and at the same time num += φq_f·S_f and
 * den += φq_f·z_f with the updated rows (position t sees its own key). out = num / den, in f32.
 */
function updateAndRead(phiQ: usize, phiK: usize, v: usize, S: usize, z: usize, Mp: i32, dv: i32, vd: usize, acc: usize, out: usize): void {
  for (let t = 0; t < dv; t++) {
    store<f64>(vd + (<usize>t << 3), <f64>load<f32>(v + (<usize>t << 2)));
    store<f64>(acc + (<usize>t << 3), 0);
  }
  const pairs = dv & ~1;
  let den: f64 = 0;
  for (let f = 0; f < Mp; f++) {
    const pk = <f64>load<f32>(phiK + (<usize>f << 2));
    const pq = <f64>load<f32>(phiQ + (<usize>f << 2));
    const zp = z + (<usize>f << 3);
    const zf = load<f64>(zp) + pk;
    store<f64>(zp, zf);
    den += pq * zf;
    if (pk == 0 && pq == 0) continue; // pad lanes and masked features: nothing to add or read
    const row = S + (<usize>(f * dv) << 3);
    const kv = f64x2.splat(pk);
    const qv = f64x2.splat(pq);
    let t = 0;
    for (; t < pairs; t += 2) {
      const off = <usize>t << 3;
      const s = f64x2.add(v128.load(row + off), f64x2.mul(kv, v128.load(vd + off)));
      v128.store(row + off, s);
      v128.store(acc + off, f64x2.add(v128.load(acc + off), f64x2.mul(qv, s)));
    }
    for (; t < dv; t++) {
      const off = <usize>t << 3;
      const s = load<f64>(row + off) + pk * load<f64>(vd + off);
      store<f64>(row + off, s);
      store<f64>(acc + off, load<f64>(acc + off) + pq * s);
    }
  }
  const safe = abs(den) >= 1e-30 ? den : (den < 0 ? -1e-30 : 1e-30);
  for (let t = 0; t < dv; t++) {
    const y = load<f64>(acc + (<usize>t << 3)) / safe;
    store<f32>(out + (<usize>t << 2), <f32>min(max(y, -f32.MAX_VALUE), f32.MAX_VALUE));
  }
}
