import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../support/setup.ts';
import { existsSync, readFileSync } from 'node:fs';
import { runtime } from '../../src/runtime/wasm.ts';
import { planWorkspace } from '../../src/runtime/workspace.ts';
import { checksum, randn, relError } from '../support/data.ts';
import { gemmFloat32Order, gemmReference, type GemmVariant } from '../reference/gemm.ts';
import { GEMM_OPS, positional, type GemmCall } from '../support/gemm-call.ts';
import { GEMM_BYTES } from '../../src/runtime/descriptors.ts';

// Tolerance. Each element of C is a float32 sum of K products (unit roundoff u = 2⁻²⁴). With N(0, 1)
// entries the k-th partial sum has RMS √k and its rounding error is ≈ u·|s_k|/√3, so a sequential sum
// ends with an RMS error ≈ u·√(Σ k / 3) ≈ u·K/√6 against |C| ≈ √K: a relative Frobenius error of
// ≈ 0.41·u·√K (1.6e-6 at K = 4096, 2e-7 at K = 64); the worst seen here is 0.63·u·√K, on tiny shapes.
// 2·u·√K (at least 2u) leaves a margin of ~5; a wrong index, a lost or doubled k term, or a stale
// accumulator gives errors of 1e-3 and more.
const U = 2 ** -24;
const tolerance = (K: number) => 2 * U * Math.max(1, Math.sqrt(K));

/** The NT kernel sums K in blocks of this many (NT_KC in assembly/linalg/gemm.ts); the float32 emulation needs it. */
const NT_BLOCK = 256;

type Fn = GemmCall;

/** The little that a test needs from an instance: scratch memory and the three kernels. */
interface Host {
  scratch(bytes: number): number;
  u32(): Uint32Array;
  f32(): Float32Array;
  kernel(v: GemmVariant): Fn;
}

/** Where the default host's calls write their Gemm descriptor: one heap block, kept for the test run. */
let descriptor = 0;

/** Product `op` of the runtime's matmul export as a positional call. */
function runtimeKernel(op: keyof typeof GEMM_OPS): Fn {
  const rt = runtime();
  if (!descriptor) descriptor = rt.heap.alloc(GEMM_BYTES);
  return positional(() => rt.exports.memory.buffer, () => descriptor, (g) => rt.exports.matmul(g), op);
}

function defaultHost(): Host {
  const rt = runtime();
  return {
    scratch: (bytes) => rt.scratch(bytes),
    f32: () => rt.f32,
    u32: () => new Uint32Array(rt.exports.memory.buffer),
    kernel: (v) => runtimeKernel(v),
  };
}

interface Case {
  v: GemmVariant;
  M: number;
  N: number;
  K: number;
  /** Extra elements per row of A, B, C (leading dimension − row length). */
  pad?: [number, number, number];
  accumulate?: 0 | 1;
  /** Misalignment of A, B, C in elements (0–3: byte addresses ≡ 0, 4, 8, 12 mod 16). */
  shift?: [number, number, number];
  seed?: number;
}

interface Result {
  /** The kernel's C, dense M×N. */
  c: Float32Array;
  /** Float64 reference, dense M×N. */
  ref: Float64Array;
  /** Float32 emulation of the documented order (only when asked). */
  f32order?: Float32Array;
  /** Elements in C's block that are not C (guards and row padding) that changed. */
  clobbered: number;
  /** A or B changed. */
  inputsChanged: boolean;
}

const GUARD = 7; // floats of sentinel before and after C's block
const SENTINEL = 0x7fc0dead; // a quiet NaN with a payload, compared as bits

function run(host: Host, t: Case, emulate = false): Result {
  const { v, M, N, K } = t;
  const [pa, pb, pc] = t.pad ?? [0, 0, 0];
  const [sa, sb, sc] = t.shift ?? [0, 0, 0];
  const accumulate = t.accumulate ?? 0;
  const seed = t.seed ?? 1;
  // op(A) is M×K, op(B) is K×N; stored shapes:
  const [aRows, aCols] = v === 'tn' ? [K, M] : [M, K];
  const [bRows, bCols] = v === 'nt' ? [N, K] : [K, N];
  const lda = aCols + pa, ldb = bCols + pb, ldc = N + pc;
  const aLen = aRows * lda, bLen = bRows * ldb, cLen = M * ldc;
  const A = randn(aLen, seed * 3 + 1);
  const B = randn(bLen, seed * 3 + 2);
  const c0 = randn(M * N, seed * 3 + 3);

  const plan = planWorkspace({ a: aLen + 4, b: bLen + 4, c: cLen + 2 * GUARD + 4 });
  const base = host.scratch(plan.bytes);
  const aPtr = base + plan.offsets.a + 4 * sa;
  const bPtr = base + plan.offsets.b + 4 * sb;
  const cBlock = base + plan.offsets.c + 4 * sc; // GUARD sentinels, then C (M rows of ldc), then GUARD
  const cPtr = cBlock + 4 * GUARD;
  const f32 = host.f32();
  f32.set(A, aPtr >>> 2);
  f32.set(B, bPtr >>> 2);
  const u32 = host.u32();
  u32.fill(SENTINEL, cBlock >>> 2, (cBlock >>> 2) + cLen + 2 * GUARD);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) f32[(cPtr >>> 2) + i * ldc + j] = accumulate ? c0[i * N + j] : NaN; // NaN must be ignored
  }
  const sums = [checksum(A), checksum(B)];

  host.kernel(v)(aPtr, bPtr, cPtr, M, N, K, lda, ldb, ldc, accumulate);

  const mem = host.f32();
  const bits = host.u32();
  const c = new Float32Array(M * N);
  let clobbered = 0;
  for (let e = 0; e < cLen + 2 * GUARD; e++) {
    const inC = e >= GUARD && e < GUARD + cLen && (e - GUARD) % ldc < N;
    if (inC) {
      const i = Math.floor((e - GUARD) / ldc), j = (e - GUARD) % ldc;
      c[i * N + j] = mem[(cBlock >>> 2) + e];
    } else if (bits[(cBlock >>> 2) + e] !== SENTINEL) clobbered++;
  }
  const inputsChanged =
    checksum(mem.subarray(aPtr >>> 2, (aPtr >>> 2) + aLen)) !== sums[0] ||
    checksum(mem.subarray(bPtr >>> 2, (bPtr >>> 2) + bLen)) !== sums[1];
  const ref = gemmReference(v, { data: A, ld: lda }, { data: B, ld: ldb }, M, N, K, accumulate ? c0 : undefined);
  const f32order = emulate ? gemmFloat32Order(v, { data: A, ld: lda }, { data: B, ld: ldb }, M, N, K, accumulate ? c0 : undefined, NT_BLOCK) : undefined;
  return { c, ref, f32order, clobbered, inputsChanged };
}

function describe(t: Case): string {
  return `${t.v} M=${t.M} N=${t.N} K=${t.K} pad=${t.pad ?? [0, 0, 0]} shift=${t.shift ?? [0, 0, 0]} acc=${t.accumulate ?? 0}`;
}

function check(host: Host, t: Case): number {
  const r = run(host, t);
  const err = relError(r.c, r.ref);
  const name = describe(t);
  assert.ok(err <= tolerance(t.K), `${name}: relative error ${err.toExponential(3)} > ${tolerance(t.K).toExponential(3)}`);
  assert.is(r.clobbered, 0, `${name}: ${r.clobbered} elements outside C written`);
  assert.ok(!r.inputsChanged, `${name}: A or B modified`);
  return err / (U * Math.sqrt(t.K));
}

// Odd sizes on every axis (edges of the 2×16 / 2×4 blocks and of K blocks), padded leading dimensions,
// misaligned pointers, accumulate 0 and 1; then the benchmarked shapes.
const small: Array<[number, number, number]> = [
  [1, 1, 1], [5, 3, 7], [2, 16, 1], [3, 17, 5], [7, 9, 13], [13, 31, 33], [33, 9, 2], [31, 33, 3],
  [9, 13, 31], [1, 64, 64], [64, 1, 64], [65, 67, 64], [4, 8, 257], [17, 5, 1029], [7, 256, 300],
  [2, 33, 515], [35, 18, 9],
];
const cases: Case[] = [];
for (const v of ['nn', 'nt', 'tn'] as const) {
  small.forEach(([M, N, K], i) => {
    const pad: [number, number, number] = i % 3 === 0 ? [0, 0, 0] : [(i % 5) + 1, (i % 7) + 2, (i % 4) + 1];
    const shift: [number, number, number] = [i % 4, (i + 1) % 4, (i + 2) % 4];
    cases.push({ v, M, N, K, pad, shift, accumulate: (i % 2) as 0 | 1, seed: i + 1 });
    if (i < 6) cases.push({ v, M, N, K, pad: [3, 1, 2], shift: [1, 2, 3], accumulate: ((i + 1) % 2) as 0 | 1, seed: 100 + i });
  });
}
const benchmarked: Case[] = [
  { v: 'nn', M: 4096, N: 256, K: 64 },
  { v: 'nt', M: 4096, N: 256, K: 64, accumulate: 1 },
  { v: 'nn', M: 256, N: 64, K: 4096 },
  { v: 'tn', M: 256, N: 64, K: 4096, accumulate: 1 },
];

test(`gemm nn / nt / tn: ${cases.length} small and odd shapes against float64 (relative Frobenius error ≤ 2·u·√K)`, () => {
  const host = defaultHost();
  let worst = 0;
  for (const t of cases) worst = Math.max(worst, check(host, t));
  console.log(`    ${cases.length} shapes: worst error ${worst.toFixed(3)}·u·√K`);
});

test('gemm: the benchmarked shapes (4096×256×64 nn and nt, 256×64×4096 nn and tn) against float64', () => {
  const host = defaultHost();
  let worst = 0;
  for (const t of benchmarked) worst = Math.max(worst, check(host, t));
  console.log(`    benchmarked shapes: worst error ${worst.toFixed(3)}·u·√K`);
});

test('gemm: accumulate = 0 ignores NaN in C; accumulate = 1 adds to C; K = 0 is an empty sum', () => {
  const host = defaultHost();
  for (const v of ['nn', 'nt', 'tn'] as const) {
    const r0 = run(host, { v, M: 6, N: 19, K: 11, pad: [1, 2, 3] }); // C was NaN before
    assert.ok(r0.c.every(Number.isFinite), `${v}: NaN leaked from C with accumulate = 0`);
    const r1 = run(host, { v, M: 6, N: 19, K: 11, pad: [1, 2, 3], accumulate: 1 });
    assert.ok(relError(r1.c, r1.ref) <= tolerance(11), `${v}: accumulate = 1`);
    // K = 0 (outside the contract, which asks K ≥ 1): an empty sum, C = 0 or C unchanged; nothing else written
    for (const accumulate of [0, 1] as const) {
      const r = run(host, { v, M: 3, N: 5, K: 0, pad: [1, 1, 2], accumulate });
      assert.equal(Array.from(r.c), Array.from(r.ref), `${v}: K = 0, accumulate = ${accumulate}`);
      assert.is(r.clobbered, 0);
    }
  }
});

// Sub-blocks (rows i0.., columns j0..) computed by separate calls must match the whole bit for bit: the edge
// kernels round exactly like the 2×16 / 2×4 blocks (what makes causal outputs independent of later tokens).
test('gemm: an element of C does not depend on M, N or where it falls in the register blocks (bit-identical)', () => {
  const rt = runtime();
  for (const v of ['nn', 'nt', 'tn'] as const) {
    const M = 37, N = 45, K = 29 + (v === 'nt' ? 270 : 0); // nt: two K blocks and a tail
    const [aRows, aCols] = v === 'tn' ? [K, M] : [M, K];
    const [bRows, bCols] = v === 'nt' ? [N, K] : [K, N];
    const A = randn(aRows * aCols, 7), B = randn(bRows * bCols, 8);
    const plan = planWorkspace({ a: A.length, b: B.length, c: M * N, d: M * N });
    const base = rt.scratch(plan.bytes);
    rt.write(base + plan.offsets.a, A);
    rt.write(base + plan.offsets.b, B);
    const fn = runtimeKernel(v);
    fn(base + plan.offsets.a, base + plan.offsets.b, base + plan.offsets.c, M, N, K, aCols, bCols, N, 0);
    const whole = rt.view(base + plan.offsets.c, M * N).slice();
    for (const [i0, j0, m, n] of [[35, 40, 2, 5], [33, 29, 4, 16], [3, 17, 1, 1], [0, 0, 5, 3], [17, 2, 20, 43]]) {
      // op(A) rows i0.. and op(B) columns j0.. are plain pointer offsets in every layout
      const aOff = v === 'tn' ? i0 : i0 * aCols;
      const bOff = v === 'nt' ? j0 * bCols : j0;
      const d = base + plan.offsets.d;
      fn(base + plan.offsets.a + 4 * aOff, base + plan.offsets.b + 4 * bOff, d, m, n, K, aCols, bCols, n, 0);
      const part = rt.view(d, m * n);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          assert.ok(Object.is(part[i * n + j], whole[(i0 + i) * N + j0 + j]), `${v}: C(${i0 + i}, ${j0 + j}) differs computed in a ${m}×${n} call`);
        }
      }
    }
  }
});

/** A host whose nn and tn kernels pack B first (gemm_pack_b, into a heap block) and run gemm_nn_packed / gemm_tn_packed. */
function packedHost(): Host {
  const rt = runtime();
  const plain = defaultHost();
  const packed = (v: 'nn' | 'tn'): Fn => (a, b, c, M, N, K, lda, ldb, ldc, accumulate) => {
    const bp = rt.heap.alloc(4 * K * N);
    rt.exports.gemm_pack_b(b, K, N, ldb, bp);
    runtimeKernel(`${v}_packed` as 'nn_packed' | 'tn_packed')(a, bp, c, M, N, K, lda, 0, ldc, accumulate);
    rt.heap.release(bp);
  };
  return { ...plain, kernel: (v) => (v === 'nt' ? plain.kernel(v) : packed(v)) };
}

// Packing moves where B is read, not what is computed: the packed kernels must give the same bits.
test('gemm with packed B (nn, tn): bit-identical to the unpacked kernels on every odd shape and the benchmarked ones', () => {
  const host = defaultHost();
  const packed = packedHost();
  const shapes = [...cases, ...benchmarked, { v: 'nn', M: 128, N: 260, K: 64, pad: [0, 3, 1] } as Case].filter((t) => t.v !== 'nt');
  for (const t of shapes) {
    const want = run(host, t);
    const got = run(packed, t);
    assert.is(got.clobbered, 0, `${describe(t)}: ${got.clobbered} elements outside C written`);
    assert.ok(!got.inputsChanged, `${describe(t)}: A or B modified`);
    for (let e = 0; e < want.c.length; e++) {
      assert.ok(Object.is(got.c[e], want.c[e]), `${describe(t)}: element ${e}: packed ${got.c[e]} vs ${want.c[e]}`);
    }
  }
  console.log(`    ${shapes.length} shapes, packed = unpacked bit for bit`);
});

/** True when this build fuses multiply–add (relaxed SIMD): c + a·b with one rounding. */
function fused(host: Host): boolean {
  const plan = planWorkspace({ a: 1, b: 1, c: 1 });
  const base = host.scratch(plan.bytes);
  const f32 = host.f32();
  f32[(base + plan.offsets.a) >>> 2] = 1 + 2 ** -12;
  f32[(base + plan.offsets.b) >>> 2] = 1 + 2 ** -12;
  f32[(base + plan.offsets.c) >>> 2] = -1;
  host.kernel('nn')(base + plan.offsets.a, base + plan.offsets.b, base + plan.offsets.c, 1, 1, 1, 1, 1, 1, 1);
  // (1 + 2⁻¹²)² = 1 + 2⁻¹¹ + 2⁻²⁴: rounded to float32 first, the 2⁻²⁴ is lost
  return host.f32()[(base + plan.offsets.c) >>> 2] !== 2 ** -11;
}

test('gemm (baseline build): bit-identical to a float32 emulation of the documented summation order', () => {
  const host = defaultHost();
  if (fused(host)) {
    console.log('    skipped: this build fuses multiply–add (relaxed SIMD)');
    return;
  }
  const shapes: Case[] = [
    { v: 'nn', M: 5, N: 21, K: 9, pad: [1, 2, 3] },
    { v: 'tn', M: 7, N: 18, K: 33, accumulate: 1 },
    { v: 'nt', M: 5, N: 6, K: 263, pad: [2, 1, 0] }, // blocks of 256 + 7 (a 3-element tail)
    { v: 'nt', M: 3, N: 9, K: 515, accumulate: 1 },
    { v: 'nn', M: 3, N: 5, K: 600 }, // several K blocks of the splat kernels
  ];
  for (const t of shapes) {
    const r = run(host, t, true);
    for (let e = 0; e < r.c.length; e++) {
      assert.ok(Object.is(r.c[e], r.f32order![e]), `${describe(t)}: element ${e}: ${r.c[e]} vs ${r.f32order![e]}`);
    }
  }
});

// The relaxed build, when it is there and this engine runs it (Node 20 needs --experimental-wasm-relaxed-simd).
const relaxedPath = new URL('../../build/performer-relaxed.wasm', import.meta.url);
test('gemm (relaxed build, if runnable): the odd shapes against float64', () => {
  if (!existsSync(relaxedPath)) return void console.log('    skipped: no build/performer-relaxed.wasm');
  const bytes = readFileSync(relaxedPath);
  if (!WebAssembly.validate(bytes)) return void console.log('    skipped: this engine does not run relaxed SIMD');
  const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as Record<string, unknown>;
  const memory = exports.memory as WebAssembly.Memory;
  const heapBase = (exports.heapBase as () => number)();
  const host: Host = {
    scratch(bytes) {
      const base = (heapBase + 63) & ~63;
      const need = base + 64 + bytes - memory.buffer.byteLength;
      if (need > 0) memory.grow(Math.ceil(need / 65536));
      return base + 64; // the first 64 bytes hold the Gemm descriptor
    },
    f32: () => new Float32Array(memory.buffer),
    u32: () => new Uint32Array(memory.buffer),
    kernel: (v) => positional(() => memory.buffer, () => (heapBase + 63) & ~63, exports.matmul as (g: number) => void, v),
  };
  let worst = 0;
  for (const t of cases) worst = Math.max(worst, check(host, t));
  console.log(`    relaxed build (fused: ${fused(host)}): worst error ${worst.toFixed(3)}·u·√K`);
});

test.run();
