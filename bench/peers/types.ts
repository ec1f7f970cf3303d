// What a peer is: another library that computes the same attention, timed side by side with ours.

/** What a peer computes: bidirectional FAVOR+, exact attention, or causal FAVOR+. */
export type PeerKind = 'favor' | 'exact' | 'causal';

/** One case: inputs [count, L, d] (count = batch·heads), and for FAVOR+ the projection W (m×d). */
export interface Problem {
  kind: PeerKind;
  count: number;
  L: number;
  d: number;
  m: number;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  projection: Float32Array;
}

export interface Prepared {
  /** One timed call: the whole attention, output read back into JS memory. */
  run(): void | Promise<void>;
  /** The last output, [count, L, d]; or only the rows listed in `rows` (row = index in count·L). */
  output(): Float32Array;
  rows?: number[];
  /** The timed call does only a part of the work: the reported time is the median × this factor. */
  extrapolate?: number;
  dispose(): void;
}

export interface Peer {
  /** Table label, e.g. "onnxruntime-web 1.30.0 (wasm)". */
  name: string;
  /** Threads the peer really runs with (it may use fewer than asked). */
  threads: number;
  /** Why it cannot run this case (a short reason), or undefined when it can. */
  skip(p: Problem): string | undefined;
  prepare(p: Problem): Promise<Prepared>;
  close?(): Promise<void> | void;
}

export interface PeerLoader {
  id: string;
  /** Imports the package (dynamic import) and starts it with `threads`; throws when it is not installed. */
  load(threads: number): Promise<Peer>;
}
