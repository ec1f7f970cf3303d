// PLACEHOLDER scalar GEMM (to be replaced by register-blocked f32x4 micro-kernels).

export function gemm_nn(a: usize, b: usize, c: usize, M: i32, N: i32, K: i32, lda: i32, ldb: i32, ldc: i32, accumulate: i32): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s: f32 = accumulate ? load<f32>(c + ((<usize>(i * ldc + j)) << 2)) : 0;
      for (let k = 0; k < K; k++) s += load<f32>(a + ((<usize>(i * lda + k)) << 2)) * load<f32>(b + ((<usize>(k * ldb + j)) << 2));
      store<f32>(c + ((<usize>(i * ldc + j)) << 2), s);
    }
  }
}

export function gemm_nt(a: usize, b: usize, c: usize, M: i32, N: i32, K: i32, lda: i32, ldb: i32, ldc: i32, accumulate: i32): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s: f32 = accumulate ? load<f32>(c + ((<usize>(i * ldc + j)) << 2)) : 0;
      for (let k = 0; k < K; k++) s += load<f32>(a + ((<usize>(i * lda + k)) << 2)) * load<f32>(b + ((<usize>(j * ldb + k)) << 2));
      store<f32>(c + ((<usize>(i * ldc + j)) << 2), s);
    }
  }
}

export function gemm_tn(a: usize, b: usize, c: usize, M: i32, N: i32, K: i32, lda: i32, ldb: i32, ldc: i32, accumulate: i32): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s: f32 = accumulate ? load<f32>(c + ((<usize>(i * ldc + j)) << 2)) : 0;
      for (let k = 0; k < K; k++) s += load<f32>(a + ((<usize>(k * lda + i)) << 2)) * load<f32>(b + ((<usize>(k * ldb + j)) << 2));
      store<f32>(c + ((<usize>(i * ldc + j)) << 2), s);
    }
  }
}
