/** Every error this package throws on purpose is a PerformerError; `code` says which class of mistake it is. */
export type PerformerErrorCode =
  /** A function that needs the wasm module was called before `init()` / `initSync()` finished. */
  | 'NOT_INITIALIZED'
  /** The wasm source given to `init` could not be compiled or instantiated. */
  | 'INIT_FAILED'
  /** An argument has the wrong type (for example a number[] where a Float32Array is required). */
  | 'INVALID_TYPE'
  /** A buffer's length does not match the shape. */
  | 'INVALID_LENGTH'
  /** A size is zero, negative, fractional, NaN or too large. */
  | 'INVALID_SIZE'
  /** NaN or ±Infinity in an input. */
  | 'NON_FINITE'
  /** An options object has a key this function does not know (a typo, usually). */
  | 'UNKNOWN_OPTION'
  /** An option has a value outside its allowed set. */
  | 'INVALID_OPTION'
  /** The workspace for this shape would not fit in wasm32 linear memory (4 GiB), or the engine refused to grow it. */
  | 'OUT_OF_MEMORY'
  /** Saved decoder state bytes are truncated, tampered with, or belong to another configuration. */
  | 'INVALID_STATE'
  /** A wasm kernel trapped; the module has been rebuilt and the next call works. */
  | 'KERNEL_FAULT';

export class PerformerError extends Error {
  readonly code: PerformerErrorCode;
  constructor(code: PerformerErrorCode, message: string) {
    super(message);
    this.name = 'PerformerError';
    this.code = code;
  }
}
