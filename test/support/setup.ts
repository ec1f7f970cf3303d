// Every test file imports this first: the package initialized with the baseline build (bit-reproducible).
// PERFORMER_WASM=path loads another build instead (a private build while several people edit assembly/).
import { readFileSync } from 'node:fs';
import { initSync } from '../../src/index.ts';

const override = process.env.PERFORMER_WASM;
if (override) initSync(readFileSync(override));
else initSync(undefined, { relaxedSimd: false });
