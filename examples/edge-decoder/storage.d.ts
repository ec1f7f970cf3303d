// Types of storage.js for the TypeScript tests.
import type { RequestKind } from './protocol.js';
/** The part of DurableObjectStorage that storage.js and journal.js use. */
export interface KeyValueStorage {
  put(entries: Record<string, unknown>): Promise<void>;
  get(key: string): Promise<unknown>;
  get(keys: string[]): Promise<Map<string, unknown>>;
  list(options: { prefix: string }): Promise<Map<string, unknown>>;
  delete(keys: string[]): Promise<unknown>;
  deleteAll(): Promise<void>;
  transaction(closure: (txn: Pick<KeyValueStorage, 'put' | 'delete'>) => Promise<void>): Promise<void>;
}
export interface SessionRecord {
  id: string;
  config: string;
  position: number;
  last?: { kind: RequestKind; from: number; tokens: number; digest: number };
}
export interface StoredRecord extends SessionRecord {
  format: number;
  stateBytes: number;
  stateChunks: number;
}
export interface StoredLogRecord {
  position: number;
  keys: string[];
  bytes: Uint8Array;
}
export declare const STORAGE_FORMAT: number;
export declare function checkStateSize(bytes: number): void;
export declare function saveSnapshot(storage: KeyValueStorage, record: SessionRecord, state: Uint8Array, answer: Uint8Array | undefined, covered?: string[]): Promise<{ meta: StoredRecord; written: number }>;
export declare function appendRecord(storage: KeyValueStorage, position: number, bytes: Uint8Array): Promise<{ keys: string[]; written: number }>;
export declare function loadSession(storage: KeyValueStorage): Promise<{ meta: StoredRecord; state: Uint8Array; answer: Uint8Array | undefined; records: StoredLogRecord[] } | undefined>;
export declare function storedBytes(meta: StoredRecord, logBytes?: number): number;
