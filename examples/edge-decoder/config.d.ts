// Types of config.js for the TypeScript tests.
export declare const VALUE_BYTES: number;
export declare function readConfig(value: unknown): Record<string, unknown> & { maxTokens: number };
export declare function fingerprint(config: Record<string, unknown>): string;
export declare function describeConfig(config: Record<string, unknown>): Record<string, unknown>;
