// The peer ONNX graphs, built from standard ops (opset 17) on inputs q, k, v of shape [N, L, d]
// (N = batch·heads; the same layout as performer-wasm's [batch, heads, seq, dim]).
import { encodeModel, type Graph, type Node } from './proto.ts';

const io = (d: number) => [
  { name: 'q', shape: ['N', 'L', d] },
  { name: 'k', shape: ['N', 'L', d] },
  { name: 'v', shape: ['N', 'L', d] },
];

/** softmax(q·kᵀ/√d)·v: MatMul, Transpose, Mul, Softmax, MatMul (the L×L score matrix is materialized). */
export function exactModel(d: number): Uint8Array {
  const nodes: Node[] = [
    { op: 'Mul', inputs: ['q', 'scale'], outputs: ['qs'] },
    { op: 'Transpose', inputs: ['k'], outputs: ['kt'], attributes: [{ name: 'perm', value: [0, 2, 1] }] },
    { op: 'MatMul', inputs: ['qs', 'kt'], outputs: ['scores'] },
    { op: 'Softmax', inputs: ['scores'], outputs: ['p'], attributes: [{ name: 'axis', value: 2 }] },
    { op: 'MatMul', inputs: ['p', 'v'], outputs: ['out'] },
  ];
  const graph: Graph = {
    name: 'exact_attention',
    nodes,
    initializers: [{ name: 'scale', dims: [], data: Float32Array.of(1 / Math.sqrt(d)) }],
    inputs: io(d),
    outputs: [{ name: 'out', shape: ['N', 'L', d] }],
  };
  return encodeModel(graph);
}

/** Wᵀ·d^(-1/4) ([d, m]) and ‖x̂‖²/2's factor: the initializers of the feature nodes below. */
function featureInitializers(projection: Float32Array, m: number, d: number) {
  const scale = d ** -0.25;
  const wt = new Float32Array(d * m);
  for (let r = 0; r < m; r++) for (let c = 0; c < d; c++) wt[c * m + r] = projection[r * d + c] * scale;
  return [
    { name: 'wt', dims: [d, m], data: wt },
    { name: 'hscale', dims: [], data: Float32Array.of(0.5 * scale * scale) },
    { name: 'axis2', dims: [1], data: { int64: [2] } },
  ];
}

/**
 * Positive features of x ∈ {q, k} ([N, L, d] → `${x}phi` [N, L, m]): u = x̂Wᵀ, h = ‖x̂‖²/2, φ = exp(u − h − c)
 * (1/√m left out: it cancels). The stabilizer c: 'row' = the row's own max (queries), 'head' = the max over the
 * head's rows and features (keys), or the name of a scalar initializer (a constant).
 */
function features(x: 'q' | 'k', stabilizer: 'row' | 'head' | { constant: string }): Node[] {
  const top: Node[] =
    stabilizer === 'row'
      ? [{ op: 'ReduceMax', inputs: [`${x}a`], outputs: [`${x}max`], attributes: [{ name: 'axes', value: [2] }, { name: 'keepdims', value: 1 }] }]
      : stabilizer === 'head'
        ? [{ op: 'ReduceMax', inputs: [`${x}a`], outputs: [`${x}max`], attributes: [{ name: 'axes', value: [1, 2] }, { name: 'keepdims', value: 1 }] }]
        : [];
  const c = typeof stabilizer === 'object' ? stabilizer.constant : `${x}max`;
  return [
    { op: 'MatMul', inputs: [x, 'wt'], outputs: [`${x}u`] },
    { op: 'Mul', inputs: [x, x], outputs: [`${x}2`] },
    { op: 'ReduceSum', inputs: [`${x}2`, 'axis2'], outputs: [`${x}n`], attributes: [{ name: 'keepdims', value: 1 }] },
    { op: 'Mul', inputs: [`${x}n`, 'hscale'], outputs: [`${x}h`] },
    { op: 'Sub', inputs: [`${x}u`, `${x}h`], outputs: [`${x}a`] },
    ...top,
    { op: 'Sub', inputs: [`${x}a`, c], outputs: [`${x}b`] },
    { op: 'Exp', inputs: [`${x}b`], outputs: [`${x}phi`] },
  ];
}

/**
 * FAVOR+ (positive features, bidirectional) from ops, with the projection W (m×d) as a constant:
 *   x̂ = x·d^(-1/4) (folded into Wᵀ), u = x̂Wᵀ, h = ‖x̂‖²/2,
 *   φ(q) = exp(u − h − max_row(u − h)),  φ(k) = exp(u − h − max_head(u − h))   (1/√m cancels),
 *   S = φ(K)ᵀV, z = Σ_j φ(k_j), out = φ(Q)S / φ(Q)z.
 */
export function favorModel(projection: Float32Array, m: number, d: number): Uint8Array {
  const nodes: Node[] = [
    ...features('k', 'head'),
    { op: 'Transpose', inputs: ['kphi'], outputs: ['kphit'], attributes: [{ name: 'perm', value: [0, 2, 1] }] },
    { op: 'MatMul', inputs: ['kphit', 'v'], outputs: ['s'] }, // [N, m, d]
    { op: 'ReduceSum', inputs: ['kphit', 'axis2'], outputs: ['z'], attributes: [{ name: 'keepdims', value: 1 }] }, // [N, m, 1]
    ...features('q', 'row'),
    { op: 'MatMul', inputs: ['qphi', 's'], outputs: ['num'] },
    { op: 'MatMul', inputs: ['qphi', 'z'], outputs: ['den'] },
    { op: 'Div', inputs: ['num', 'den'], outputs: ['out'] },
  ];
  const graph: Graph = {
    name: 'favor_plus',
    nodes,
    initializers: featureInitializers(projection, m, d),
    inputs: io(d),
    outputs: [{ name: 'out', shape: ['N', 'L', d] }],
  };
  return encodeModel(graph);
}

/**
 * The read-out shared by the LinearAttention graphs: V gets a ones column (Pad), so that the op's one
 * state S' = Σ φ(k)[v, 1]ᵀ holds S and z and its output row is [φ(q)ᵀS, φ(q)ᵀz]; out = the first d
 * columns over the last. One head per batch row (B = N, q_num_heads = kv_num_heads = 1, dk = m, dv = d + 1),
 * update_rule 'linear' (S += φ(k)[v, 1]ᵀ), scale 1 (any scale cancels in the division).
 */
function linearAttentionNodes(d: number, withState: boolean): Node[] {
  return [
    { op: 'Pad', inputs: ['v', 'vpads', 'one'], outputs: ['v1'] }, // [N, L, d + 1]
    {
      op: 'LinearAttention',
      domain: 'com.microsoft',
      inputs: ['qphi', 'kphi', 'v1', ...(withState ? ['past_state'] : [])],
      outputs: ['numden', 'present_state'],
      attributes: [
        { name: 'q_num_heads', value: 1 },
        { name: 'kv_num_heads', value: 1 },
        { name: 'update_rule', value: { s: 'linear' } },
        { name: 'scale', value: { f: 1 } },
      ],
    },
    { op: 'Slice', inputs: ['numden', 'zero', 'dcol', 'axis2'], outputs: ['num'] },
    { op: 'Slice', inputs: ['numden', 'dcol', 'd1col', 'axis2'], outputs: ['den'] },
    { op: 'Div', inputs: ['num', 'den'], outputs: ['out'] },
  ];
}

const readoutInitializers = (d: number) => [
  { name: 'vpads', dims: [6], data: { int64: [0, 0, 0, 0, 0, 1] } },
  { name: 'one', dims: [], data: Float32Array.of(1) },
  { name: 'zero', dims: [1], data: { int64: [0] } },
  { name: 'dcol', dims: [1], data: { int64: [d] } },
  { name: 'd1col', dims: [1], data: { int64: [d + 1] } },
];

/**
 * Causal FAVOR+ through onnxruntime's contrib op com.microsoft.LinearAttention: the positive features from
 * ops as in favorModel (query: row max; key: head max, a constant of the head, so it cancels like ours, the
 * running maximum, and keeps every exponent ≤ 0), then the op's causal recurrence S_t = S_{t−1} + φ(k_t)[v_t, 1]ᵀ,
 * o_t = φ(q_t)ᵀS_t.
 */
export function causalLinearAttentionModel(projection: Float32Array, m: number, d: number): Uint8Array {
  const graph: Graph = {
    name: 'causal_favor_plus_linear_attention',
    nodes: [...features('k', 'head'), ...features('q', 'row'), ...linearAttentionNodes(d, false)],
    initializers: [...featureInitializers(projection, m, d), ...readoutInitializers(d)],
    inputs: io(d),
    outputs: [{ name: 'out', shape: ['N', 'L', d] }],
  };
  return encodeModel(graph);
}

/**
 * One decoding step (L = 1) of causal FAVOR+ through LinearAttention with its state: past_state → present_state
 * ([N, 1, m, d + 1]). A step cannot know later keys, so the key stabilizer is a constant: the bound
 * c = max_r ‖ω_r‖²/2 of u − h = ω·x̂ − ‖x̂‖²/2 (completing the square), so every key exponent is ≤ 0 for any input.
 */
export function decodeLinearAttentionModel(projection: Float32Array, m: number, d: number): Uint8Array {
  let bound = 0;
  for (let r = 0; r < m; r++) {
    let norm2 = 0;
    for (let c = 0; c < d; c++) norm2 += projection[r * d + c] ** 2;
    bound = Math.max(bound, norm2 / 2);
  }
  const graph: Graph = {
    name: 'favor_plus_decode_step',
    nodes: [...features('k', { constant: 'kbound' }), ...features('q', 'row'), ...linearAttentionNodes(d, true)],
    initializers: [...featureInitializers(projection, m, d), ...readoutInitializers(d), { name: 'kbound', dims: [], data: Float32Array.of(bound) }],
    inputs: [...io(d), { name: 'past_state', shape: ['N', 1, m, d + 1] }],
    outputs: [{ name: 'out', shape: ['N', 'L', d] }, { name: 'present_state', shape: ['N', 1, m, d + 1] }],
  };
  return encodeModel(graph);
}
