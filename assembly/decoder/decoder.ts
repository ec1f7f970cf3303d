// Recurrent decoding: the causal algorithm with one token per step (docs/design.md §1). Each of `count`
// sequences (batch × heads) has its own state: S (Mp × dv f64) at S + r·Mp·dv·8, z (Mp f64) at
// z + r·Mp·8, and its key stabilizer c (f64) at run + r·8. Cost per token O(M·(d + dv)), whatever the position.
// q, k: count × d; v, out: count × dv. cRow: count f32 scratch; vd, acc: dv f64 scratch each.
import { feature_map, feature_row_stats } from '../feature-maps/features';
import { project_rows, queryFeatures } from '../favor/favor';
import { carry, rescaleState } from '../favor/state';
import { DecoderStep, FeatureMap, Pass, Workspace } from '../descriptors';

/**
 * One token for each of pass.queries sequences: q, k (pass.queries × dim), v and out (× pass.valueDim) from the pass.
 * ws.S, ws.z, ws.run hold the sequences' states side by side (above); ws.u, phi (the queries' φ), phiK, h, top and c
 * are scratch of pass.queries rows; step.vd and step.acc are dv f64 each. Position t sees its own key.
 */
export function decoder_step(fm: FeatureMap, pass: Pass, ws: Workspace, step: DecoderStep): void {
  const Mp = fm.Mp, count = pass.queries, dv = pass.valueDim, phiQ = ws.phi, phiK = ws.phiK, S = ws.S, z = ws.z;
  const vd = step.vd, acc = step.acc, v = pass.v, out = pass.out, stateBytes = <usize>(Mp * dv) << 3;
  decoderKeys(fm, ws, pass.k, count, dv);
  queryFeatures(fm, pass.q, count, ws.u, ws.h, ws.top, phiQ);

  for (let r = 0; r < count; r++) {
    updateAndRead(phiQ + (<usize>(r * Mp) << 2), phiK + (<usize>(r * Mp) << 2), v + (<usize>(r * dv) << 2),
                  S + <usize>r * stateBytes, z + (<usize>(r * Mp) << 3), Mp, dv, vd, acc, out + (<usize>(r * dv) << 2));
  }
}

/**
 * The keys of a step (count rows at k): each state's stabilizer (ws.run) grows to cover its new key (rescaling ws.S and
 * ws.z when it does); φ(k) at it in ws.phiK, c in ws.c (ws.u, ws.h, ws.top scratch).
 */
export function decoderKeys(fm: FeatureMap, ws: Workspace, k: usize, count: i32, dv: i32): void {
  const Mp = fm.Mp;
  const u = ws.u, h = ws.h, top = ws.top, cRow = ws.c, S = ws.S, z = ws.z, run = ws.run;
  const stateBytes = <usize>(Mp * dv) << 3;
  project_rows(fm, k, count, u);
  feature_row_stats(fm, k, u, count, h, top);
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
  feature_map(fm, u, count, h, cRow, ws.phiK);
}

/** updateAndReadParts, then out = num / den in f32 (the denominator guarded, the result clamped to the f32 range). */
function updateAndRead(phiQ: usize, phiK: usize, v: usize, S: usize, z: usize, Mp: i32, dv: i32, vd: usize, acc: usize, out: usize): void {
  const den = updateAndReadParts(phiQ, phiK, v, S, z, Mp, dv, vd, acc);
  const safe = abs(den) >= 1e-30 ? den : (den < 0 ? -1e-30 : 1e-30);
  for (let c = 0; c < dv; c++) {
    const y = load<f64>(acc + (<usize>c << 3)) / safe;
    store<f32>(out + (<usize>c << 2), <f32>min(max(y, -f32.MAX_VALUE), f32.MAX_VALUE));
  }
}

/**
 * One pass over the state: S_f += φk_f·v and z_f += φk_f, and at the same time num += φq_f·S_f and
 * den += φq_f·z_f with the updated rows (position t sees its own key). num (dv f64) in acc; returns den.
 * Columns go in blocks of 8 (four f64x2 accumulators held in registers while the block walks every
 * feature row), then pairs, then a last single column.
 */
export function updateAndReadParts(phiQ: usize, phiK: usize, v: usize, S: usize, z: usize, Mp: i32, dv: i32, vd: usize, acc: usize): f64 {
  for (let t = 0; t < dv; t++) store<f64>(vd + (<usize>t << 3), <f64>load<f32>(v + (<usize>t << 2)));
  let den: f64 = 0;
  for (let f = 0; f < Mp; f++) {
    const zp = z + (<usize>f << 3);
    const zf = load<f64>(zp) + <f64>load<f32>(phiK + (<usize>f << 2));
    store<f64>(zp, zf);
    den += <f64>load<f32>(phiQ + (<usize>f << 2)) * zf;
  }
  const rowBytes = <usize>dv << 3;
  let t = 0;
  for (; t + 8 <= dv; t += 8) {
    const col = <usize>t << 3;
    const v0 = v128.load(vd + col), v1 = v128.load(vd + col, 16), v2 = v128.load(vd + col, 32), v3 = v128.load(vd + col, 48);
    let a0 = f64x2.splat(0), a1 = f64x2.splat(0), a2 = f64x2.splat(0), a3 = f64x2.splat(0);
    let p = S + col;
    for (let f = 0; f < Mp; f++, p += rowBytes) {
      const kv = f64x2.splat(<f64>load<f32>(phiK + (<usize>f << 2)));
      const qv = f64x2.splat(<f64>load<f32>(phiQ + (<usize>f << 2)));
      const s0 = f64x2.add(v128.load(p), f64x2.mul(kv, v0));
      const s1 = f64x2.add(v128.load(p, 16), f64x2.mul(kv, v1));
      const s2 = f64x2.add(v128.load(p, 32), f64x2.mul(kv, v2));
      const s3 = f64x2.add(v128.load(p, 48), f64x2.mul(kv, v3));
      v128.store(p, s0);
      v128.store(p, s1, 16);
      v128.store(p, s2, 32);
      v128.store(p, s3, 48);
      a0 = f64x2.add(a0, f64x2.mul(qv, s0));
      a1 = f64x2.add(a1, f64x2.mul(qv, s1));
      a2 = f64x2.add(a2, f64x2.mul(qv, s2));
      a3 = f64x2.add(a3, f64x2.mul(qv, s3));
    }
    v128.store(acc + col, a0);
    v128.store(acc + col, a1, 16);
    v128.store(acc + col, a2, 32);
    v128.store(acc + col, a3, 48);
  }
  for (; t < dv; t++) {
    const col = <usize>t << 3;
    const vt = load<f64>(vd + col);
    let a: f64 = 0;
    let p = S + col;
    for (let f = 0; f < Mp; f++, p += rowBytes) {
      const sv = load<f64>(p) + <f64>load<f32>(phiK + (<usize>f << 2)) * vt;
      store<f64>(p, sv);
      a += <f64>load<f32>(phiQ + (<usize>f << 2)) * sv;
    }
    store<f64>(acc + col, a);
  }
  return den;
}
