// Types of config.js for the TypeScript tests.
export declare const VALUE_BYTES: number;
export declare const MAX_VALUES: number;
export declare function readConfig(value: unknown): Record<string, unknown> & { dim: number; heads: number; valueDim: number; features: number; maxTokens: number; maxPrefillTokens: number; snapshotTokens: number; snapshotLogBytes: number };
export declare function fingerprint(config: Record<string, unknown>): string;
export declare function describeConfig(config: Record<string, unknown>): Record<string, unknown>;
