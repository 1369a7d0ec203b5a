/** TypeScript writers for the formats Python's stdlib cannot produce: safetensors, GGUF, and protobuf (ONNX, SavedModel). */

export interface TensorSpec {
  name: string;
  dtype: string;
  shape: number[];
  bytes: number;
}

/** safetensors: u64 header length, JSON header, data. `mutate` lets tests corrupt the header. */
export function safetensors(tensors: TensorSpec[], options: { metadata?: Record<string, string>; mutate?: (h: Record<string, unknown>) => void; trailing?: number } = {}): Buffer {
  const header: Record<string, unknown> = {};
  if (options.metadata) header.__metadata__ = options.metadata;
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes] };
    offset += t.bytes;
  }
  options.mutate?.(header);
  let json = Buffer.from(JSON.stringify(header));
  const pad = (8 - (json.length % 8)) % 8;
  json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const data = Buffer.alloc(offset + (options.trailing ?? 0));
  for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
  return Buffer.concat([len, json, data]);
}

type GgufValue = { type: 'u32'; v: number } | { type: 'str'; v: string } | { type: 'f32'; v: number } | { type: 'strs'; v: string[] } | { type: 'i32s'; v: number[] };

function ggufString(s: string): Buffer {
  const b = Buffer.from(s);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(b.length));
  return Buffer.concat([len, b]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

function u64(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

/** GGUF v2/v3 with metadata and F32 tensors (data included, aligned to 32). */
export function gguf(kv: [string, GgufValue][], tensors: { name: string; dims: number[] }[], options: { version?: number; tensorCountOverride?: bigint; kvCountOverride?: bigint; omitData?: boolean } = {}): Buffer {
  const parts: Buffer[] = [Buffer.from('GGUF'), u32(options.version ?? 3), u64(options.tensorCountOverride ?? BigInt(tensors.length)), u64(options.kvCountOverride ?? BigInt(kv.length))];
  for (const [key, value] of kv) {
    parts.push(ggufString(key));
    switch (value.type) {
      case 'u32': parts.push(u32(4), u32(value.v)); break;
      case 'f32': { const b = Buffer.alloc(4); b.writeFloatLE(value.v); parts.push(u32(6), b); break; }
      case 'str': parts.push(u32(8), ggufString(value.v)); break;
      case 'strs': parts.push(u32(9), u32(8), u64(value.v.length), ...value.v.map(ggufString)); break;
      case 'i32s': parts.push(u32(9), u32(5), u64(value.v.length), ...value.v.map((n) => { const b = Buffer.alloc(4); b.writeInt32LE(n); return b; })); break;
    }
  }
  let offset = 0;
  const sizes: number[] = [];
  for (const t of tensors) {
    parts.push(ggufString(t.name), u32(t.dims.length), ...t.dims.map((d) => u64(d)), u32(0), u64(offset));
    const size = t.dims.reduce((a, d) => a * d, 1) * 4;
    sizes.push(size);
    offset += Math.ceil(size / 32) * 32;
  }
  let head = Buffer.concat(parts);
  head = Buffer.concat([head, Buffer.alloc((32 - (head.length % 32)) % 32)]);
  if (options.omitData) return head;
  return Buffer.concat([head, Buffer.alloc(offset, 0x11)]);
}

// --- protobuf encoding (wire format) ---
export function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

export function pbVarint(field: number, v: number): Buffer {
  return Buffer.concat([varint(field * 8), varint(v)]);
}

export function pbBytes(field: number, payload: Buffer | string): Buffer {
  const b = typeof payload === 'string' ? Buffer.from(payload) : payload;
  return Buffer.concat([varint(field * 8 + 2), varint(b.length), b]);
}

export function onnxModel(options: { nodes: { op: string; domain?: string }[]; externalLocation?: string; rawBytes?: number; opsetDomains?: string[] }): Buffer {
  const nodes = options.nodes.map((n, i) =>
    pbBytes(1, Buffer.concat([pbBytes(1, `in${i}`), pbBytes(2, `out${i}`), pbBytes(3, `node${i}`), pbBytes(4, n.op), ...(n.domain !== undefined ? [pbBytes(7, n.domain)] : [])])),
  );
  const tensorParts = [pbVarint(1, 4), pbVarint(2, 1), pbBytes(8, 'weight')];
  if (options.externalLocation !== undefined) {
    tensorParts.push(pbBytes(13, Buffer.concat([pbBytes(1, 'location'), pbBytes(2, options.externalLocation)])), pbVarint(14, 1));
  } else {
    tensorParts.push(pbBytes(9, Buffer.alloc(options.rawBytes ?? 16, 0x0a)));
  }
  const graph = Buffer.concat([...nodes, pbBytes(2, 'graph'), pbBytes(5, Buffer.concat(tensorParts))]);
  const opsets = (options.opsetDomains ?? ['']).map((d) => pbBytes(8, Buffer.concat([pbBytes(1, d), pbVarint(2, 17)])));
  return Buffer.concat([pbVarint(1, 8), pbBytes(2, 'pytorch'), pbBytes(3, '2.3.0'), pbBytes(7, graph), ...opsets]);
}

export function savedModel(ops: string[], functionOps: string[] = []): Buffer {
  const node = (op: string, i: number): Buffer => Buffer.concat([pbBytes(1, `n${i}`), pbBytes(2, op), pbBytes(3, 'x')]);
  const graphDef = Buffer.concat([
    ...ops.map((op, i) => pbBytes(1, node(op, i))),
    pbBytes(2, pbBytes(1, Buffer.concat([pbBytes(1, pbBytes(1, 'fn')), ...functionOps.map((op, i) => pbBytes(3, node(op, i)))]))),
  ]);
  const metaGraph = Buffer.concat([pbBytes(1, pbBytes(4, 'serve')), pbBytes(2, graphDef)]);
  return Buffer.concat([pbVarint(1, 1), pbBytes(2, metaGraph)]);
}
