// Types of compute.js, for test/package/demo.test.ts.
export interface DemoParams { L: number; d: number; m: number; kernel: string; seed: number; strength?: number }
export interface CurvePoint { m: number; error: number }
export interface Curve { points: CurvePoint[]; uniform: number }
export interface Timing { L: number; d: number; m: number; kernel: string; exactMs: number; favorMs: number; speedup: number }
export declare const KERNELS: readonly string[];
export declare const CURVE_FEATURES: readonly number[];
export declare const CURVE_DRAWS: number;
export declare const CLUSTERS: number;
export declare function ready(): Promise<void>;
export declare function makeInputs(L: number, d: number, seed: number, strength?: number, noise?: number): { q: Float32Array; k: Float32Array };
export declare function relativeError(exact: Float32Array, estimate: Float32Array): number;
export declare function matrices(params: DemoParams): { exact: Float32Array; favor: Float32Array; diff: Float32Array; error: number; maxAbs: number };
export declare function errorCurve(params: Omit<DemoParams, 'm'>, features?: readonly number[]): Curve;
export declare function timing(options?: Partial<DemoParams & { repeats: number }>, now?: () => number): Timing;
