// decode mode with --peers: onnxruntime's LinearAttention (web and node) stepping one token for every
// (batch, head) with its state (past_state → present_state), beside our FavorDecoder.step on the same tokens.
import type { FavorAttention } from 'performer-wasm';
import { relError } from '../data.ts';
import { sig3, type Row, type Table } from '../table.ts';
import { measurePair } from '../timing.ts';
import type { PeerOptions } from './flags.ts';
import { PEER_AGREEMENT } from './index.ts';
import { decodeLinearAttentionModel } from './onnx/graphs.ts';
import { ortNodeRuntime, ortSession, ortWebRuntime, type OrtRuntime } from './ort.ts';

/** A token: q, k, v of every (batch, head), [count, d] each. */
type Token = Float32Array[];

export interface DecodeCase {
  attn: FavorAttention;
  batch: number;
  heads: number;
  dim: number;
  /** The tokens the timed steps cycle through. */
  tokens: Token[];
  /** Our timed step (one token), as the mode times it. */
  ourStep: () => void;
  /** Both sides start again from an empty state after this many steps. */
  resetEvery: number;
}

/** The peers' table: µs per step, ratio to our step (paired), and how far their outputs are from ours. */
export async function decodePeers(c: DecodeCase, options: PeerOptions): Promise<Table> {
  const rows: Row[] = [];
  const unavailable: string[] = [];
  for (const [id, start] of [['onnxruntime-web', ortWebRuntime], ['onnxruntime-node', ortNodeRuntime]] as const) {
    let rt: OrtRuntime;
    try {
      rt = await start(options.threads);
    } catch (error) {
      unavailable.push(`${id}: ${(error as Error).message.split('\n')[0]}`);
      continue;
    }
    const row: Row = { peer: rt.name, threads: rt.threads, heads: c.heads, batch: c.batch };
    try {
      const stepper = await peerStepper(rt, c);
      row.agreement = await agreement(c, stepper);
      if (!((row.agreement as number) <= PEER_AGREEMENT)) {
        throw new Error(`disagrees with performer-wasm: ‖peer − ours‖/‖ours‖ = ${(row.agreement as number).toExponential(2)} > ${PEER_AGREEMENT}`);
      }
      stepper.reset();
      const { ours, other, ratio } = await measurePair(c.ourStep, stepper.timed, options.budget);
      Object.assign(row, { usPerStep: other.medianMs * 1e3, rme: other.rme, samples: other.samples, oursUs: ours.medianMs * 1e3, ratio,
                           tokensPerSecond: c.batch / (other.medianMs / 1e3) });
      stepper.release();
    } catch (error) {
      row.failed = (error as Error).message.split('\n')[0];
    }
    rows.push(row);
  }
  if (!rows.length) throw new Error(`--peers: onnxruntime-web and onnxruntime-node are not installed (${unavailable.join('; ')})`);
  const title = `Peers: decoding, one token for every (batch, head) (batch ${c.batch}, heads ${c.heads}, d = ${c.dim}); onnxruntime:`
    + ' com.microsoft.LinearAttention with past_state, on positive features from ops, the same projection; agree: ‖peer − ours‖/‖ours‖'
    + ` over ${c.tokens.length} steps from an empty state (≤ ${PEER_AGREEMENT} before timing); ours timed again with each peer, alternating sample by`
    + ' sample; ratio = median of paired peer/ours';
  return {
    mode: 'peers-decode',
    title: unavailable.length ? `${title}\n(not loaded: ${unavailable.join('; ')})` : title,
    columns: [
      { key: 'peer', label: 'peer' },
      { key: 'threads', label: 'thr', format: String },
      { key: 'heads', label: 'heads', format: String },
      { key: 'step', label: 'µs per step' },
      { key: 'rme', label: '±RME', format: (x) => `±${x.toFixed(1)}%` },
      { key: 'oursUs', label: 'ours µs' },
      { key: 'ratio', label: 'ratio', format: (x) => `${sig3(x)}×` },
      { key: 'tokensPerSecond', label: 'tokens/s', format: (x) => Math.round(x).toLocaleString('en-US') },
      { key: 'agreement', label: 'agree', format: (x) => x.toExponential(2) },
    ],
    rows: rows.map((r) => ({ ...r, step: r.failed ? `failed: ${r.failed}` : r.usPerStep })),
  };
}

interface PeerStepper {
  /** One step on token i (its output is kept in `out`), the state carried to the next. */
  step(i: number): Promise<void>;
  out(): Float32Array;
  /** The timed call: the next token of the cycle. */
  timed(): Promise<void>;
  reset(): void;
  release(): void;
}

async function peerStepper(rt: OrtRuntime, c: DecodeCase): Promise<PeerStepper> {
  const { ort } = rt;
  const count = c.batch * c.heads;
  const m = c.attn.projection.length / c.dim;
  const session = await ortSession(rt, decodeLinearAttentionModel(c.attn.projection, m, c.dim));
  const tokenDims = [count, 1, c.dim];
  const feeds = c.tokens.map(([q, k, v]) => ({
    q: new ort.Tensor('float32', q, tokenDims), k: new ort.Tensor('float32', k, tokenDims), v: new ort.Tensor('float32', v, tokenDims),
  }));
  const empty = () => new ort.Tensor('float32', new Float32Array(count * m * (c.dim + 1)), [count, 1, m, c.dim + 1]);
  let state = empty();
  let last: Float32Array = new Float32Array(0);
  let position = 0;
  const step = async (i: number) => {
    const result = await session.run({ ...feeds[i], past_state: state });
    state = result.present_state;
    last = result.out.data as Float32Array;
    position++;
  };
  const reset = () => {
    state = empty();
    position = 0;
  };
  return {
    step,
    out: () => last,
    timed: async () => {
      if (position >= c.resetEvery) reset();
      await step(position % c.tokens.length);
    },
    reset,
    release: () => void session.release(),
  };
}

/** Runs every token of the pool through a fresh decoder of ours and through the peer: their relative difference. */
async function agreement(c: DecodeCase, peer: PeerStepper): Promise<number> {
  const width = c.batch * c.heads * c.dim;
  const ours = new Float32Array(c.tokens.length * width);
  const theirs = new Float32Array(c.tokens.length * width);
  const dec = c.attn.decoder({ batch: c.batch, heads: c.heads });
  try {
    for (let i = 0; i < c.tokens.length; i++) {
      const [q, k, v] = c.tokens[i];
      dec.step(q, k, v, ours.subarray(i * width, (i + 1) * width));
      await peer.step(i);
      theirs.set(peer.out(), i * width);
    }
  } finally {
    dec.dispose();
  }
  return relError(theirs, ours);
}
