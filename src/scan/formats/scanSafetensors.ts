import type { RandomSource } from '../io/RandomSource.js';
import type { ScanContext } from '../ScanContext.js';

/** safetensors' own limit on the JSON header (MAX_HEADER_SIZE in the reference implementation). */
const MAX_HEADER = 100_000_000;

const dtypeBytes: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, F8_E8M0: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8, C64: 8, F4: 0.5, F6_E2M3: 0.75, F6_E3M2: 0.75,
};

/**
 * Counts the keys of the top-level JSON object. JSON.parse silently keeps the last of duplicate
 * keys while other parsers keep the first or fail, so a duplicate is a parser-differential trap.
 */
export function countTopLevelKeys(json: string): number {
  let depth = 0;
  let keys = 0;
  let inString = false;
  let expectKey = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      if (depth === 1 && expectKey) keys++;
      expectKey = false;
      inString = true;
    } else if (c === '{' || c === '[') {
      depth++;
      expectKey = depth === 1 && c === '{';
    } else if (c === '}' || c === ']') depth--;
    else if (c === ',' && depth === 1) expectKey = true;
  }
  return keys;
}

/**
 * Validates the header the way a strict loader must (length bounds, JSON, dtypes, shapes,
 * offsets in range, no overlap, no holes, no trailing bytes). Only the header is read: scan
 * time does not depend on tensor size.
 */
export async function scanSafetensors(src: RandomSource, ctx: ScanContext): Promise<void> {
  const bad = (msg: string, offset?: number): void => ctx.add('safetensors/invalid-header', 'high', msg, offset);
  if (src.size < 8) return bad('file shorter than the 8-byte header length');
  const lenBuf = await src.read(0, 8);
  const headerLen = lenBuf.readBigUInt64LE(0);
  const limit = Math.min(MAX_HEADER, ctx.limits.maxJsonBytes);
  if (headerLen > BigInt(limit)) return bad(`declared header length ${headerLen} exceeds the ${limit}-byte limit`, 0);
  const n = Number(headerLen);
  if (8 + n > src.size) return bad(`declared header length ${n} runs past the end of the file (${src.size} bytes)`, 0);
  const raw = await src.read(8, n);
  let header: unknown;
  try {
    header = JSON.parse(raw.toString('utf8'));
  } catch {
    return bad('header is not valid JSON', 8);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) return bad('header is not a JSON object', 8);
  if (countTopLevelKeys(raw.toString('utf8')) !== Object.keys(header).length) {
    ctx.add('safetensors/duplicate-key', 'high', 'header names the same tensor twice; parsers disagree on which entry wins', 8);
  }
  const dataStart = 8 + n;
  const dataLen = src.size - dataStart;
  const spans: { begin: number; end: number; name: string }[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.values(value).every((v) => typeof v === 'string')) {
        bad('__metadata__ must map strings to strings', 8);
      }
      continue;
    }
    const t = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (t === null || typeof t !== 'object') {
      bad(`tensor ${JSON.stringify(name.slice(0, 200))} is not an object`, 8);
      continue;
    }
    const width = typeof t.dtype === 'string' ? dtypeBytes[t.dtype] : undefined;
    if (width === undefined) {
      bad(`tensor ${JSON.stringify(name.slice(0, 200))} has unknown dtype ${JSON.stringify(t.dtype)}`, 8);
      continue;
    }
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      bad(`tensor ${JSON.stringify(name.slice(0, 200))} has an invalid shape`, 8);
      continue;
    }
    const off = t.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isSafeInteger(o) && o >= 0) || off[0] > off[1]) {
      bad(`tensor ${JSON.stringify(name.slice(0, 200))} has invalid data_offsets`, 8);
      continue;
    }
    const [begin, end] = off as [number, number];
    const elements = (t.shape as number[]).reduce((a, d) => a * d, 1);
    const expected = Math.ceil(elements * width);
    if (end - begin !== expected) bad(`tensor ${JSON.stringify(name.slice(0, 200))}: ${end - begin} bytes for shape [${(t.shape as number[]).join(',')}] of ${t.dtype} (expected ${expected})`, 8);
    if (end > dataLen) {
      bad(`tensor ${JSON.stringify(name.slice(0, 200))} ends at ${end}, past the ${dataLen}-byte data section`, 8);
      continue;
    }
    spans.push({ begin, end, name });
  }
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const s of spans) {
    if (s.begin < cursor) bad(`tensor ${JSON.stringify(s.name.slice(0, 200))} overlaps the previous tensor`, dataStart + s.begin);
    else if (s.begin > cursor) ctx.add('safetensors/hole', 'medium', `${s.begin - cursor} unindexed bytes before tensor ${JSON.stringify(s.name.slice(0, 200))}`, dataStart + cursor);
    cursor = Math.max(cursor, s.end);
  }
  if (cursor < dataLen) ctx.add('safetensors/trailing-data', 'medium', `${dataLen - cursor} bytes after the last tensor are not described by the header`, dataStart + cursor);
}
