// Types of storage.js for the TypeScript tests.
/** The part of DurableObjectStorage that storage.js uses. */
export interface KeyValueStorage {
  put(entries: Record<string, unknown>): Promise<void>;
  get(key: string): Promise<unknown>;
  get(keys: string[]): Promise<Map<string, unknown>>;
}
export interface SessionRecord {
  id: string;
  config: string;
  position: number;
  last?: { from: number; tokens: number; digest: number; outputs: Uint8Array };
}
export interface StoredRecord extends SessionRecord {
  format: number;
  stateBytes: number;
  stateChunks: number;
}
export declare const STORAGE_FORMAT: number;
export declare function checkStateSize(bytes: number): void;
export declare function saveSession(storage: KeyValueStorage, record: SessionRecord, state: Uint8Array): Promise<StoredRecord>;
export declare function loadSession(storage: KeyValueStorage): Promise<{ meta: StoredRecord; state: Uint8Array } | undefined>;
export declare function storedBytes(meta: StoredRecord): number;
