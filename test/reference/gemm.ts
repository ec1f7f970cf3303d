// Float64 reference GEMM for the wasm kernels (assembly/linalg/gemm.ts), with the same strided row-major layout.

export type GemmVariant = 'nn' | 'nt' | 'tn';

/** A strided matrix: element (r, c) is data[offset + r·ld + c]. */
export interface Strided {
  data: ArrayLike<number>;
  offset?: number;
  ld: number;
}

/**
 * C = c0 + op(A)·op(B) in float64, dense M×N (row-major, no padding). c0 (dense M×N) may be omitted.
 * nn: A M×K, B K×N. nt: A M×K, B N×K. tn: A K×M, B K×N.
 */
export function gemmReference(variant: GemmVariant, A: Strided, B: Strided, M: number, N: number, K: number, c0?: ArrayLike<number>): Float64Array {
  const out = new Float64Array(M * N);
  if (c0) for (let i = 0; i < M * N; i++) out[i] = c0[i];
  const a = A.data, b = B.data;
  const ao = A.offset ?? 0, bo = B.offset ?? 0;
  const row = new Float64Array(N);
  for (let i = 0; i < M; i++) {
    row.fill(0);
    for (let k = 0; k < K; k++) {
      const aik = variant === 'tn' ? a[ao + k * A.ld + i] : a[ao + i * A.ld + k];
      if (variant === 'nt') {
        for (let j = 0; j < N; j++) row[j] += aik * b[bo + j * B.ld + k];
      } else {
        const bk = bo + k * B.ld;
        for (let j = 0; j < N; j++) row[j] += aik * b[bk + j];
      }
    }
    for (let j = 0; j < N; j++) out[i * N + j] += row[j];
  }
  return out;
}

/**
 * Float32 emulation of the kernels' documented summation order (assembly/linalg/gemm.ts), with a separate
 * multiply and add (the baseline build; the relaxed build fuses them). Returns dense M×N.
 * nn / tn: each element is one chain c = c + a_k·b_k over k in order, started at c0 (or 0).
 * nt: lane l of four sums k ≡ l (mod 4) within blocks of `ntBlock`; the K tail of a block goes into lane 0;
 * lanes are added (l0 + l2) + (l1 + l3); each block's sum is added to c0 (the first block is stored).
 */
export function gemmFloat32Order(variant: GemmVariant, A: Strided, B: Strided, M: number, N: number, K: number, c0: ArrayLike<number> | undefined, ntBlock: number): Float32Array {
  const f = Math.fround;
  const out = new Float32Array(M * N);
  const a = A.data, b = B.data;
  const ao = A.offset ?? 0, bo = B.offset ?? 0;
  const at = (i: number, k: number) => (variant === 'tn' ? a[ao + k * A.ld + i] : a[ao + i * A.ld + k]);
  const bt = (k: number, j: number) => (variant === 'nt' ? b[bo + j * B.ld + k] : b[bo + k * B.ld + j]);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let c = c0 ? f(c0[i * N + j]) : 0;
      if (variant !== 'nt') {
        for (let k = 0; k < K; k++) c = f(c + f(at(i, k) * bt(k, j)));
      } else {
        for (let k0 = 0; k0 < K; k0 += ntBlock) {
          const kc = Math.min(ntBlock, K - k0);
          const lane = [0, 0, 0, 0];
          const k4 = kc & ~3;
          for (let k = 0; k < k4; k++) lane[k & 3] = f(lane[k & 3] + f(at(i, k0 + k) * bt(k0 + k, j)));
          for (let k = k4; k < kc; k++) lane[0] = f(lane[0] + f(at(i, k0 + k) * bt(k0 + k, j)));
          const s = f(f(lane[0] + lane[2]) + f(lane[1] + lane[3]));
          c = k0 === 0 && !c0 ? s : f(c + s);
        }
      }
      out[i * N + j] = c;
    }
  }
  return out;
}
