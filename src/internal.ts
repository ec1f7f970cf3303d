// performer-wasm/internal: the raw kernels and the memory they work in, for the benchmark CLI
// (performer-bench) and tools. Not part of the stable API: names and signatures may change.
export { runtime, type Runtime } from './runtime/wasm.ts';
export { planWorkspace } from './runtime/workspace.ts';
export type { KernelExports } from './runtime/abi.ts';
export { GEMM_BYTES, GEMM_NN, GEMM_NN_PACKED, GEMM_NT, GEMM_TN, GEMM_TN_PACKED, writeGemm } from './runtime/descriptors.ts';
export { KERNEL_NAMES } from './feature-maps/kernels.ts';
export { rounds } from './threads/threaded.ts';
export { threading } from './favor/attention.ts';
