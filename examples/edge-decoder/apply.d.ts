// Types of apply.js for the TypeScript tests.
import type { FavorDecoder } from 'performer-wasm';
import type { Request, StepShape } from './protocol.js';
export declare function applyRequest(decoder: FavorDecoder, config: StepShape, input: Request): Float32Array;
