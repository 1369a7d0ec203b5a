import type { RandomSource } from '../io/RandomSource.js';
import type { ScanContext } from '../ScanContext.js';
import { checkKerasConfig } from './checkKerasConfig.js';
import { findTemplateInjection } from './findTemplateInjection.js';

/** Swaps each pair of bytes (UTF-16BE → UTF-16LE, which Node decodes). */
function swap16(b: Buffer): Buffer {
  const out = Buffer.alloc(b.length - (b.length % 2));
  for (let i = 0; i + 1 < b.length; i += 2) {
    out[i] = b[i + 1]!;
    out[i + 1] = b[i]!;
  }
  return out;
}

function utf32(b: Buffer, bigEndian: boolean): string | null {
  const points: number[] = [];
  for (let i = 0; i + 3 < b.length; i += 4) {
    const cp = bigEndian ? b.readUInt32BE(i) : b.readUInt32LE(i);
    if (cp > 0x10ffff) return null;
    points.push(cp);
  }
  try {
    let s = '';
    for (let i = 0; i < points.length; i += 8192) s += String.fromCodePoint(...points.slice(i, i + 8192));
    return s;
  } catch {
    return null;
  }
}

/**
 * Decodes JSON bytes the way Python's `json.loads(bytes)` does (Keras reads config.json so):
 * BOMs for UTF-8/16/32, otherwise the NUL pattern of the first four bytes, otherwise UTF-8.
 */
export function decodeJsonBytes(b: Buffer): string | null {
  const starts = (...bytes: number[]): boolean => bytes.every((x, i) => b[i] === x);
  if (starts(0x00, 0x00, 0xfe, 0xff)) return utf32(b.subarray(4), true);
  if (starts(0xff, 0xfe, 0x00, 0x00)) return utf32(b.subarray(4), false);
  if (starts(0xfe, 0xff)) return swap16(b.subarray(2)).toString('utf16le');
  if (starts(0xff, 0xfe)) return b.toString('utf16le', 2);
  if (starts(0xef, 0xbb, 0xbf)) return b.toString('utf8', 3);
  if (b.length >= 4) {
    if (b[0] === 0) return b[1] ? swap16(b).toString('utf16le') : utf32(b, true);
    if (b[1] === 0) return b[2] || b[3] ? b.toString('utf16le') : utf32(b, false);
  }
  return b.toString('utf8');
}

/**
 * JSON files that ship with models: Keras configs (layers) and Hugging Face tokenizer configs
 * (`chat_template`, rendered with Jinja). Returns the more specific format name, or null when
 * the bytes are not JSON in any encoding Python's json module accepts.
 */
export async function scanJson(src: RandomSource, ctx: ScanContext): Promise<string | null> {
  if (src.size > ctx.limits.maxJsonBytes) {
    ctx.add('scan/limit', 'low', `JSON file larger than ${ctx.limits.maxJsonBytes} bytes was not parsed`);
    return 'json';
  }
  let doc: unknown;
  try {
    const text = decodeJsonBytes(await src.read(0, src.size));
    if (text === null) return null;
    doc = JSON.parse(text);
  } catch {
    return null;
  }
  if (doc === null || typeof doc !== 'object') return 'json';
  const o = doc as Record<string, unknown>;
  let format = 'json';
  const template = o.chat_template;
  const templates = typeof template === 'string' ? [template] : Array.isArray(template) ? template.map((t) => (t as { template?: unknown })?.template) : [];
  for (const t of templates) {
    if (typeof t !== 'string') continue;
    format = 'tokenizer-config';
    const why = findTemplateInjection(t);
    if (why) ctx.add('tokenizer/chat-template-code', 'critical', `chat_template contains template code that escapes the Jinja sandbox: ${why}`);
  }
  if (typeof o.class_name === 'string' && ('config' in o || 'module' in o)) {
    format = 'keras-config';
    checkKerasConfig(doc, ctx, 'config');
  }
  return format;
}
