// Every test file imports this first: the package initialized with the baseline build (bit-reproducible).
import { initSync } from '../../src/index.ts';

initSync(undefined, { relaxedSimd: false });
