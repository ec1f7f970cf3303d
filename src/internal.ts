// performer-wasm/internal: the raw kernels and the memory they work in, for the benchmark CLI
// (performer-bench) and tools. Not part of the stable API: names and signatures may change.
export { planWorkspace, runtime, type Runtime } from './wasm.ts';
export type { KernelExports } from './abi.ts';
export { KERNEL_NAMES } from './kernels.ts';
export { rounds } from './threaded.ts';
export { threading } from './attention.ts';
