// Types of protocol.js for the TypeScript clients (the test and the bench).
export declare const REQUEST_MAGIC: number;
export declare const PREFILL_LAST_MAGIC: number;
export declare const PREFILL_ALL_MAGIC: number;
export declare const RESPONSE_MAGIC: number;
export declare const REPLAYED_MAGIC: number;
export type RequestKind = 'step' | 'prefill-last' | 'prefill-all';
export declare const KINDS: RequestKind[];
export declare const HEADER_BYTES: number;
export declare const BINARY: string;
export declare const JSON_TYPE: string;
export interface StepShape {
  heads: number;
  dim: number;
  valueDim: number;
}
export declare class ServiceError extends Error {
  status: number;
  code: string;
  extra: Record<string, unknown>;
  constructor(status: number, code: string, message: string, extra?: Record<string, unknown>);
}
/** A decoded request (the server's view, also a log record's). */
export interface Request {
  kind: RequestKind;
  position: number;
  tokens: number;
  floats: Float32Array;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  readonly digest: number;
}
export declare function request(shape: StepShape, kind: RequestKind, position: number, tokens: number, floats: Float32Array): Request;
export declare function tokenSizes(shape: StepShape): { q: number; v: number };
export declare function requestBytes(shape: StepShape, tokens: number): number;
export declare function encodeRequest(shape: StepShape, kind: RequestKind, position: number, q: Float32Array, k: Float32Array, v: Float32Array): Uint8Array<ArrayBuffer>;
export declare function encodeStep(shape: StepShape, position: number, q: Float32Array, k: Float32Array, v: Float32Array): Uint8Array<ArrayBuffer>;
export declare function encodeResult(position: number, rows: number, outputs: Float32Array, replayed?: boolean): Uint8Array<ArrayBuffer>;
export declare function decodeResult(bytes: Uint8Array): { position: number; tokens: number; outputs: Float32Array; replayed: boolean };
export declare function fnv1a(array: ArrayBufferView): number;
export declare function fnv1aWords(array: ArrayBufferView, h?: number): number;
