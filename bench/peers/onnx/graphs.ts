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

/**
 * FAVOR+ (positive features, bidirectional) from ops, with the projection W (m×d) as a constant:
 *   x̂ = x·d^(-1/4) (folded into Wᵀ), u = x̂Wᵀ, h = ‖x̂‖²/2,
 *   φ(q) = exp(u − h − max_row(u − h)),  φ(k) = exp(u − h − max_head(u − h))   (1/√m cancels),
 *   S = φ(K)ᵀV, z = Σ_j φ(k_j), out = φ(Q)S / φ(Q)z.
 */
export function favorModel(projection: Float32Array, m: number, d: number): Uint8Array {
  const scale = d ** -0.25;
  const wt = new Float32Array(d * m); // Wᵀ·d^(-1/4), [d, m]
  for (let r = 0; r < m; r++) for (let c = 0; c < d; c++) wt[c * m + r] = projection[r * d + c] * scale;
  const features = (x: 'q' | 'k'): Node[] => [
    { op: 'MatMul', inputs: [x, 'wt'], outputs: [`${x}u`] },
    { op: 'Mul', inputs: [x, x], outputs: [`${x}2`] },
    { op: 'ReduceSum', inputs: [`${x}2`, 'axis2'], outputs: [`${x}n`], attributes: [{ name: 'keepdims', value: 1 }] },
    { op: 'Mul', inputs: [`${x}n`, 'hscale'], outputs: [`${x}h`] },
    { op: 'Sub', inputs: [`${x}u`, `${x}h`], outputs: [`${x}a`] },
    x === 'q'
      ? { op: 'ReduceMax', inputs: ['qa'], outputs: ['qmax'], attributes: [{ name: 'axes', value: [2] }, { name: 'keepdims', value: 1 }] }
      : { op: 'ReduceMax', inputs: ['ka'], outputs: ['kmax'], attributes: [{ name: 'axes', value: [1, 2] }, { name: 'keepdims', value: 1 }] },
    { op: 'Sub', inputs: [`${x}a`, `${x}max`], outputs: [`${x}b`] },
    { op: 'Exp', inputs: [`${x}b`], outputs: [`${x}phi`] },
  ];
  const nodes: Node[] = [
    ...features('k'),
    { op: 'Transpose', inputs: ['kphi'], outputs: ['kphit'], attributes: [{ name: 'perm', value: [0, 2, 1] }] },
    { op: 'MatMul', inputs: ['kphit', 'v'], outputs: ['s'] }, // [N, m, d]
    { op: 'ReduceSum', inputs: ['kphit', 'axis2'], outputs: ['z'], attributes: [{ name: 'keepdims', value: 1 }] }, // [N, m, 1]
    ...features('q'),
    { op: 'MatMul', inputs: ['qphi', 's'], outputs: ['num'] },
    { op: 'MatMul', inputs: ['qphi', 'z'], outputs: ['den'] },
    { op: 'Div', inputs: ['num', 'den'], outputs: ['out'] },
  ];
  const graph: Graph = {
    name: 'favor_plus',
    nodes,
    initializers: [
      { name: 'wt', dims: [d, m], data: wt },
      { name: 'hscale', dims: [], data: Float32Array.of(0.5 * scale * scale) },
      { name: 'axis2', dims: [1], data: { int64: [2] } },
    ],
    inputs: io(d),
    outputs: [{ name: 'out', shape: ['N', 'L', d] }],
  };
  return encodeModel(graph);
}
