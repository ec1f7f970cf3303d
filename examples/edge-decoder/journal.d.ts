// Types of journal.js for the TypeScript tests.
import type { FavorAttention, FavorDecoder } from 'performer-wasm';
import type { Request, RequestKind } from './protocol.js';
import type { KeyValueStorage } from './storage.js';
export interface LastRequest {
  kind: RequestKind;
  from: number;
  tokens: number;
  digest: number;
  /** The digest is fnv1aWords of the request's floats (absent: fnv1a of their bytes, an older snapshot's). */
  digestWords?: boolean;
  answer: Float32Array;
}
export declare function lastRequest(input: Request, answer: Float32Array): LastRequest;
export declare function isRetryOf(last: LastRequest | undefined, input: Request): boolean;
export declare class Journal {
  constructor(storage: KeyValueStorage, config: Record<string, unknown>);
  restore(attn: FavorAttention): Promise<{ id: string; decoder: FavorDecoder; last: LastRequest } | undefined>;
  create(id: string, decoder: FavorDecoder): Promise<void>;
  commit(id: string, decoder: FavorDecoder, input: Request, answer: Float32Array): Promise<void>;
  clear(): Promise<void>;
  describe(): { stateBytes: number; stateChunks: number; storedBytes: number; snapshotPosition: number; logRecords: number; logTokens: number; logBytes: number; writtenBytes: number };
}
