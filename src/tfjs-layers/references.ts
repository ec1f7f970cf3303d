// Keras writes a functional call `mha(query, value)` into model.json as one inbound node whose keyword
// arguments hold the other tensors by reference: [["query_in", 0, 0, {"value": ["value_in", 0, 0]}]].
// tfjs-layers' deserializer passes those keyword arguments on as they are (the reference, not a tensor, and
// with its layer name camel-cased: "value_in" → "valueIn"). A reference can be resolved when it names the
// query itself or a tensor upstream of it (self-attention, or a value computed from the query); a tensor on
// another branch of the graph (cross-attention from a second input) cannot be reached from the layer.
import { PerformerError } from '../arguments/errors.ts';

interface SymbolicLike {
  sourceLayer: { name: string; inboundNodes: { inputTensors: SymbolicLike[] }[] };
  nodeIndex: number;
  tensorIndex: number;
}

/** tfjs-layers' conversion of a Keras identifier (the deserializer applies it to every string in a config). */
export const camelCase = (s: string) => (s.includes('_') ? s.replace(/_+(\w|$)/g, (_, c: string) => c.toUpperCase()) : s);

export function isReference(value: unknown): value is [string, number, number] {
  return Array.isArray(value) && value.length >= 3 && typeof value[0] === 'string' && typeof value[1] === 'number' && typeof value[2] === 'number';
}

/** The tensor `ref` names, searched from `from` upstream; PerformerError with the workaround when it is not there. */
export function resolveReference(ref: [string, number, number], from: SymbolicLike, argument: string): SymbolicLike {
  const [name, node, index] = ref;
  const seen = new Set<SymbolicLike>();
  const queue = [from];
  while (queue.length) {
    const t = queue.shift()!;
    if (seen.has(t)) continue;
    seen.add(t);
    if (camelCase(t.sourceLayer.name) === camelCase(name) && t.nodeIndex === node && t.tensorIndex === index) return t;
    for (const n of t.sourceLayer.inboundNodes) queue.push(...n.inputTensors);
  }
  throw new PerformerError('INVALID_OPTION', `MultiHeadAttention: the model.json passes '${argument}' as a reference to layer '${name}', ` +
    `which is not the query nor upstream of it, and tfjs-layers' deserializer cannot resolve it. Rewrite the layer's inbound node ` +
    `as a list of inputs [query, value(, key)]: [["query_layer", 0, 0, {}], ["${name}", ${node}, ${index}, {}]] (docs/tfjs-layers.md)`);
}
