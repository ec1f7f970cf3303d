// A minimal ONNX protobuf encoder: just the ModelProto / GraphProto / NodeProto / TensorProto /
// ValueInfoProto / AttributeProto fields the peer graphs need (field numbers from onnx/onnx.proto3).
// Protobuf wire format: varint (type 0), 32-bit (type 5), length-delimited (type 2).

class Writer {
  private chunks: number[] = [];
  private parts: Uint8Array[] = [];
  private flush(): void {
    if (this.chunks.length) this.parts.push(Uint8Array.from(this.chunks));
    this.chunks = [];
  }
  varint(value: number): this {
    // Non-negative integers below 2^53 (sizes, enums, dims): 7 bits per byte, low first.
    let v = value;
    while (v >= 0x80) {
      this.chunks.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.chunks.push(v);
    return this;
  }
  tag(field: number, wire: number): this {
    return this.varint(field * 8 + wire);
  }
  int(field: number, value: number): this {
    if (value < 0) throw new Error('proto: negative varints are not needed here');
    return this.tag(field, 0).varint(value);
  }
  float(field: number, value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.tag(field, 5);
    this.chunks.push(...b);
    return this;
  }
  bytes(field: number, data: Uint8Array): this {
    this.tag(field, 2).varint(data.length);
    this.flush();
    this.parts.push(data);
    return this;
  }
  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  message(field: number, m: Uint8Array): this {
    return this.bytes(field, m);
  }
  finish(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

export const DataType = { FLOAT: 1, INT64: 7 } as const;

export interface Attribute {
  name: string;
  /** int → INT, number[] → INTS (all integers), float → FLOAT via { f }, string → STRING via { s } */
  value: number | number[] | { f: number } | { s: string };
}

export interface Node {
  op: string;
  inputs: string[];
  outputs: string[];
  attributes?: Attribute[];
  domain?: string;
}

export interface Initializer {
  name: string;
  dims: number[];
  /** FLOAT data or INT64 data (as numbers). */
  data: Float32Array | { int64: number[] };
}

export interface ValueInfo {
  name: string;
  /** A number is a fixed size, a string a symbolic dimension. */
  shape: (number | string)[];
}

export interface Graph {
  name: string;
  nodes: Node[];
  initializers: Initializer[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
}

function attribute(a: Attribute): Uint8Array {
  const w = new Writer().string(1, a.name);
  if (typeof a.value === 'number') w.int(3, a.value).int(20, 2); // i, type INT
  else if (Array.isArray(a.value)) {
    for (const v of a.value) w.int(8, v); // ints (negative axes are not used: pass positive ones)
    w.int(20, 7); // type INTS
  } else if ('s' in a.value) w.string(4, a.value.s).int(20, 3); // s, type STRING
  else w.float(2, a.value.f).int(20, 1); // f, type FLOAT
  return w.finish();
}

function node(n: Node, index: number): Uint8Array {
  const w = new Writer();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, `${n.op}_${index}`).string(4, n.op);
  for (const a of n.attributes ?? []) w.message(5, attribute(a));
  if (n.domain) w.string(7, n.domain);
  return w.finish();
}

function tensor(t: Initializer): Uint8Array {
  const w = new Writer();
  for (const d of t.dims) w.int(1, d);
  if (t.data instanceof Float32Array) {
    w.int(2, DataType.FLOAT).string(8, t.name);
    w.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)); // raw_data, little-endian
  } else {
    w.int(2, DataType.INT64).string(8, t.name);
    const raw = new DataView(new ArrayBuffer(8 * t.data.int64.length));
    t.data.int64.forEach((v, i) => raw.setBigInt64(8 * i, BigInt(v), true));
    w.bytes(9, new Uint8Array(raw.buffer));
  }
  return w.finish();
}

function valueInfo(v: ValueInfo): Uint8Array {
  const shape = new Writer();
  for (const d of v.shape) shape.message(1, typeof d === 'number' ? new Writer().int(1, d).finish() : new Writer().string(2, d).finish());
  const tensorType = new Writer().int(1, DataType.FLOAT).message(2, shape.finish()).finish();
  const type = new Writer().message(1, tensorType).finish();
  return new Writer().string(1, v.name).message(2, type).finish();
}

/** A serialized ModelProto (IR version 8) for the default domain at `opset`, plus com.microsoft if used. */
export function encodeModel(graph: Graph, opset = 17): Uint8Array {
  const g = new Writer();
  graph.nodes.forEach((n, i) => g.message(1, node(n, i)));
  g.string(2, graph.name);
  for (const t of graph.initializers) g.message(5, tensor(t));
  for (const v of graph.inputs) g.message(11, valueInfo(v));
  for (const v of graph.outputs) g.message(12, valueInfo(v));
  const m = new Writer().int(1, 8).string(2, 'performer-wasm bench');
  m.message(7, g.finish());
  m.message(8, new Writer().string(1, '').int(2, opset).finish());
  if (graph.nodes.some((n) => n.domain === 'com.microsoft')) m.message(8, new Writer().string(1, 'com.microsoft').int(2, 1).finish());
  return m.finish();
}
