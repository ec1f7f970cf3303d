// GFLOP/s of the raw wasm GEMM kernels at the shapes FAVOR+ runs them.
import { randn } from '../data.ts';
import { defineMode } from '../mode.ts';
import { timedRow, timingColumns } from '../table.ts';
import { GEMM_BYTES, GEMM_NN, GEMM_NN_PACKED, GEMM_NT, GEMM_TN, planWorkspace, runtime, writeGemm } from 'performer-wasm/internal';

const OPS = { gemm_nn: GEMM_NN, gemm_nn_packed: GEMM_NN_PACKED, gemm_nt: GEMM_NT, gemm_tn: GEMM_TN } as const;

type Kernel = 'gemm_nn' | 'gemm_nn_packed' | 'gemm_nt' | 'gemm_tn';

/** kernel, M, N, K, and what the shape is in FAVOR+. */
const CASES: [Kernel, number, number, number, string][] = [
  ['gemm_nn', 4096, 256, 64, 'L×d · d×m'],
  ['gemm_nn_packed', 4096, 256, 64, 'X·Wᵀ, Wᵀ packed (the projection)'],
  ['gemm_nt', 4096, 256, 64, 'dNum·Sᵀ (backward)'],
  ['gemm_nn', 256, 64, 4096, 'm×L · L×dv'],
  ['gemm_tn', 256, 64, 4096, 'Φ_Kᵀ·V'],
];

export const gemm = defineMode({
  name: 'gemm',
  summary: 'GFLOP/s (2·M·N·K / median) of gemm_nn, gemm_nn_packed, gemm_nt, gemm_tn at the FAVOR+ shapes',
  default: true,
  notes: ['C = op(A)·op(B) into a zeroed C (accumulate 0), operands N(0,1), contiguous (ld = row length).'],
  parse: () => CASES,
  run(ctx, cases) {
    const rt = runtime();
    const rows = cases.map(([kernel, M, N, K, role]) => {
      // Stored shapes: nn A M×K, B K×N; nt A M×K, B N×K; tn A K×M, B K×N. C is M×N.
      const lda = kernel === 'gemm_tn' ? M : K;
      const ldb = kernel === 'gemm_nt' ? K : N;
      const plan = planWorkspace({ a: M * K, b: K * N, c: M * N, gemm: GEMM_BYTES / 4 });
      const base = rt.scratch(plan.bytes);
      const [a, b, c, g] = [base + plan.offsets.a, base + plan.offsets.b, base + plan.offsets.c, base + plan.offsets.gemm];
      rt.write(a, randn(M * K, 1));
      rt.write(b, randn(K * N, 2));
      const e = rt.exports;
      // packed: B is packed once, outside the timing, as FAVOR+ packs Wᵀ once per pass
      const bp = kernel === 'gemm_nn_packed' ? rt.heap.alloc(4 * K * N) : 0;
      if (bp) e.gemm_pack_b(b, K, N, ldb, bp);
      // the Gemm descriptor is written once, as a pass writes its descriptors once per call
      writeGemm(rt.data, g, { a, b: bp || b, c, M, N, K, lda, ldb, ldc: N, accumulate: 0, op: OPS[kernel] });
      const run = () => e.matmul(g);
      const timing = ctx.measure(`${kernel} ${M}×${N}×${K}`, run);
      if (bp) rt.heap.release(bp);
      return timedRow({ kernel, M, N, K, role }, timing, 2 * M * N * K);
    });
    return {
      mode: 'gemm',
      title: 'GEMM kernels (wasm, one thread)',
      columns: [
        { key: 'kernel', label: 'kernel' },
        { key: 'M', label: 'M', format: String },
        { key: 'N', label: 'N', format: String },
        { key: 'K', label: 'K', format: String },
        ...timingColumns,
        { key: 'role', label: 'shape in FAVOR+' },
      ],
      rows,
    };
  },
});
