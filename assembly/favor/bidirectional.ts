// The chunk loops of bidirectional FAVOR+ (docs/design.md §3): the only ones. The one-thread path calls them for
// blocks of rows that it copies into wasm memory (src/favor/bidirectional.ts), and each thread-pool job for a whole
// head or a range of rows (src/threads/threaded.ts); either way a head is cut into the same chunks of pass.chunk rows
// from its first row, so every path gives the same bits.
import { FeatureMap, Pass, Workspace } from '../descriptors';
import { accumulateChunk, readoutChunk } from './favor';
import { state_clear, state_to_f32 } from './state';

/** Adds the pass's keys and values (pass.keys rows at k, v, mask) to the lane's state, pass.chunk rows at a time. */
export function favor_accumulate(fm: FeatureMap, pass: Pass, ws: Workspace): void {
  accumulateRows(fm, ws, pass.k, pass.v, pass.mask, pass.keys, pass.chunk, pass.valueDim);
}

/** Adds `rows` keys and values (k, v, mask 0 or one byte per key) to the lane's state, C rows per chunk. */
export function accumulateRows(fm: FeatureMap, ws: Workspace, k: usize, v: usize, mask: usize, rows: i32, C: i32, dv: i32): void {
  const kRow = <usize>fm.dim << 2;
  const vRow = <usize>dv << 2;
  for (let j = 0; j < rows; j += C) {
    accumulateChunk(fm, ws, k + <usize>j * kRow, v + <usize>j * vRow, mask ? mask + <usize>j : 0, min(C, rows - j), dv);
  }
}

/** Reads out the pass's queries (pass.queries rows at q) into out from the lane's S32, z32, pass.chunk rows at a time. */
export function favor_readout(fm: FeatureMap, pass: Pass, ws: Workspace): void {
  const rows = pass.queries;
  const C = pass.chunk;
  const dv = pass.valueDim;
  const qRow = <usize>fm.dim << 2;
  const oRow = <usize>dv << 2;
  for (let i = 0; i < rows; i += C) readoutChunk(fm, ws, pass.q + <usize>i * qRow, pass.out + <usize>i * oRow, min(C, rows - i), dv);
}

/** One whole head: empty the state, add every key, convert the state to f32, read out every query. */
export function favor_bidirectional(fm: FeatureMap, pass: Pass, ws: Workspace): void {
  state_clear(ws.S, ws.z, ws.run, fm.Mp, pass.valueDim);
  favor_accumulate(fm, pass, ws);
  state_to_f32(ws.S, ws.z, ws.S32, ws.z32, fm.Mp, pass.valueDim);
  favor_readout(fm, pass, ws);
}
