import { readerFromSource } from '../io/ByteReader.js';
import type { RandomSource } from '../io/RandomSource.js';
import type { ScanContext } from '../ScanContext.js';
import { findTemplateInjection } from './findTemplateInjection.js';

const MAX_STRING = 64 * 1024 * 1024;
const MAX_TEMPLATE = 1024 * 1024;
const MAX_DIMS = 4;
const MAX_ARRAY_DEPTH = 4;

/** Bytes per block and elements per block of each ggml tensor type (ggml.c type_traits). */
const ggmlTypes: Record<number, [bytes: number, elements: number]> = {
  0: [4, 1], 1: [2, 1], 2: [18, 32], 3: [20, 32], 6: [22, 32], 7: [24, 32], 8: [34, 32], 9: [36, 32], 10: [84, 256],
  11: [110, 256], 12: [144, 256], 13: [176, 256], 14: [210, 256], 15: [292, 256], 16: [66, 256], 17: [74, 256],
  18: [98, 256], 19: [50, 256], 20: [18, 32], 21: [110, 256], 22: [82, 256], 23: [136, 256], 24: [1, 1], 25: [2, 1],
  26: [4, 1], 27: [8, 1], 28: [8, 1], 29: [56, 256], 30: [2, 1], 34: [54, 256], 35: [66, 256], 39: [17, 32],
};

/** Fixed sizes of GGUF scalar value types; strings (8) and arrays (9) are variable. */
const scalarBytes: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

class GgufError extends Error {}

/**
 * Walks the GGUF header (metadata KVs and tensor infos) with every count and length checked
 * against what is left of the file before anything is allocated; tensor data is never read.
 */
export async function scanGguf(src: RandomSource, ctx: ScanContext): Promise<void> {
  const r = readerFromSource(src, 0, 1 << 16);
  const fail = (msg: string): never => {
    throw new GgufError(msg);
  };
  const remaining = (): number => src.size - r.offset;
  // Big-endian GGUF (s390x builds) has the same layout with every number byte-swapped.
  let bigEndian = false;
  const u32 = async (): Promise<number> => {
    if (!(await r.ensure(4))) fail('truncated');
    r.pos += 4;
    return bigEndian ? r.buf.readUInt32BE(r.pos - 4) : r.buf.readUInt32LE(r.pos - 4);
  };
  const u64 = async (): Promise<number> => {
    if (!(await r.ensure(8))) fail('truncated');
    const v = bigEndian ? r.buf.readBigUInt64BE(r.pos) : r.buf.readBigUInt64LE(r.pos);
    r.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`value ${v} is out of range`);
    return Number(v);
  };
  let version = 0;
  const len = async (): Promise<number> => (version === 1 ? u32() : u64());
  const str = async (keep: number): Promise<string | null> => {
    const n = await len();
    if (n > MAX_STRING || n > remaining()) fail(`string of ${n} bytes exceeds the limit or the file`);
    if (n > keep) {
      if (!(await r.skip(n))) fail('truncated');
      return null;
    }
    const b = await r.take(n);
    if (b === null) fail('truncated');
    return b!.toString('utf8');
  };
  const skipValue = async (type: number, depth: number): Promise<void> => {
    if (type in scalarBytes) {
      if (!(await r.skip(scalarBytes[type]!))) fail('truncated');
    } else if (type === 8) {
      await str(0);
    } else if (type === 9) {
      if (depth >= MAX_ARRAY_DEPTH) fail('arrays nested too deeply');
      const itemType = await u32();
      const count = await len();
      const minItem = itemType in scalarBytes ? scalarBytes[itemType]! : 8;
      if (count * minItem > remaining()) fail(`array of ${count} items cannot fit in the remaining ${remaining()} bytes`);
      if (itemType in scalarBytes) {
        if (!(await r.skip(count * scalarBytes[itemType]!))) fail('truncated');
      } else {
        for (let i = 0; i < count; i++) await skipValue(itemType, depth + 1);
      }
    } else {
      fail(`unknown value type ${type}`);
    }
  };

  let alignment = 32;
  try {
    await r.skip(4);
    version = await u32();
    if (version > 0xffff) {
      bigEndian = true;
      version = r.buf.readUInt32BE(r.pos - 4);
    }
    if (version < 1 || version > 3) fail(`unsupported version ${version}`);
    const tensorCount = await len();
    const kvCount = await len();
    // Each KV needs at least 8 (key length) + 4 (type) bytes, each tensor info at least 8 + 4 + 4 + 8.
    if (kvCount * 12 > remaining()) fail(`metadata count ${kvCount} cannot fit in the file`);
    if (tensorCount * 24 > remaining()) fail(`tensor count ${tensorCount} cannot fit in the file`);
    const keys = new Set<string>();
    for (let i = 0; i < kvCount; i++) {
      const at = r.offset;
      const key = await str(4096);
      const type = await u32();
      if (key === null) fail('metadata key longer than 4096 bytes');
      if (keys.has(key!)) ctx.add('gguf/duplicate-key', 'medium', `metadata key ${JSON.stringify(key!.slice(0, 100))} appears twice; readers disagree on which value wins`, at);
      keys.add(key!);
      if (type === 8 && (key === 'tokenizer.chat_template' || key!.startsWith('tokenizer.chat_template.'))) {
        const template = await str(MAX_TEMPLATE);
        if (template === null) {
          ctx.add('gguf/chat-template-code', 'high', `${key} is larger than 1 MiB; chat templates are small`, at);
        } else {
          const why = findTemplateInjection(template);
          if (why) ctx.add('gguf/chat-template-code', 'critical', `${key} contains template code that escapes the Jinja sandbox: ${why}`, at);
        }
      } else if (type === 4 && key === 'general.alignment') {
        alignment = await u32();
        if (alignment === 0 || (alignment & (alignment - 1)) !== 0) fail(`general.alignment ${alignment} is not a power of two`);
      } else {
        await skipValue(type, 0);
      }
    }
    const tensors: { name: string; offset: number; bytes: number | null }[] = [];
    for (let i = 0; i < tensorCount; i++) {
      const name = (await str(4096)) ?? '(long name)';
      const nDims = await u32();
      if (nDims > MAX_DIMS) fail(`tensor ${JSON.stringify(name)} has ${nDims} dimensions (max ${MAX_DIMS})`);
      let elements = 1;
      for (let d = 0; d < nDims; d++) elements *= await u64();
      const type = await u32();
      const offset = await u64();
      const traits = ggmlTypes[type];
      if (!traits) ctx.add('gguf/invalid', 'medium', `tensor ${JSON.stringify(name)} has unknown ggml type ${type}`, r.offset);
      if (offset % alignment !== 0) fail(`tensor ${JSON.stringify(name)} offset ${offset} is not aligned to ${alignment}`);
      tensors.push({ name, offset, bytes: traits ? Math.ceil(elements / traits[1]) * traits[0] : null });
    }
    const dataStart = Math.ceil(r.offset / alignment) * alignment;
    for (const t of tensors) {
      if (t.bytes !== null && dataStart + t.offset + t.bytes > src.size) {
        fail(`tensor ${JSON.stringify(t.name)} data (${t.bytes} bytes at ${t.offset}) runs past the end of the file`);
      }
    }
  } catch (err) {
    if (!(err instanceof GgufError)) throw err;
    ctx.add('gguf/invalid', 'high', `invalid GGUF header: ${err.message}`, r.offset);
  }
}

