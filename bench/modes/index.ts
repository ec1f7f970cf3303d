// The registry: a new mode is imported and listed here, in the order `npm run bench` runs them.
import type { Mode } from '../mode.ts';
import { accuracy } from './accuracy.ts';
import { causal } from './causal.ts';
import { decode } from './decode.ts';
import { exact } from './exact.ts';
import { favor } from './favor.ts';
import { gemm } from './gemm.ts';
import { train } from './train.ts';
import { trainLayer } from './train-layer.ts';

export const modes: Mode<any>[] = [gemm, exact, favor, causal, decode, accuracy, train, trainLayer];
