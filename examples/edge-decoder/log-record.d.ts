// Types of log-record.js for the TypeScript tests.
import type { Request, StepShape } from './protocol.js';
export declare function encodeRecord(input: Request, answerDigest: number): Uint8Array<ArrayBuffer>;
export declare function recordLength(input: Request): number;
export declare function decodeRecord(shape: StepShape, bytes: Uint8Array, position: number): { input: Request; answerDigest: number };
