// The typed arrays the API returns. TypeScript 5.7 made typed arrays generic over their buffer, and Web APIs
// that take a BufferSource (new Blob([x]), crypto.subtle.digest, fetch's body) accept only those over an
// ArrayBuffer: a result typed `Float32Array` (= Float32Array<ArrayBufferLike>) is refused there. The type of
// `slice()`'s result is Float32Array<ArrayBuffer> in TypeScript ≥ 5.7 and plain Float32Array before, so these
// aliases say "backed by an ArrayBuffer" in every TypeScript version the package supports.

/** A Float32Array over an ArrayBuffer (`Float32Array<ArrayBuffer>` in TypeScript ≥ 5.7). */
export type Float32Result = ReturnType<Float32Array['slice']>;
/** A Uint8Array over an ArrayBuffer (`Uint8Array<ArrayBuffer>` in TypeScript ≥ 5.7). */
export type BytesResult = ReturnType<Uint8Array['slice']>;
