// Types of recipe.js.
import type { DecoderOptions, FavorAttentionOptions, FavorDecoder } from 'performer-wasm';

export interface GoldenEntry {
  file: string;
  options: FavorAttentionOptions;
  batch: number;
  heads: number;
  valueDim: number;
  inputSeed: number;
  /** Tokens stepped before the state was saved (its position). */
  steps: number;
  /** Tokens stepped after it for the checksum. */
  next: number;
  /** FNV-1a of the file. */
  stateChecksum: string;
  /** FNV-1a of the outputs of the `next` tokens continued from the state (baseline build). */
  nextChecksum: string;
}
export declare function attentionOptions(entry: GoldenEntry): FavorAttentionOptions;
export declare function decoderOptions(entry: GoldenEntry): DecoderOptions;
export declare function continueRecipe(decoder: FavorDecoder, entry: GoldenEntry, from: number, count: number): string;
export declare function fileChecksum(bytes: Uint8Array): string;
