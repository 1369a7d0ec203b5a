import type { RandomSource } from '../io/RandomSource.js';
import type { ScanContext } from '../ScanContext.js';
import { ProtoError, ProtoReader } from './ProtoReader.js';

/** Operator domains implemented by ONNX itself and by ONNX Runtime's built-in kernels. */
const standardDomains = new Set(['', 'ai.onnx', 'ai.onnx.ml', 'ai.onnx.training', 'ai.onnx.preview.training', 'com.microsoft', 'com.microsoft.nchwc', 'com.microsoft.experimental', 'org.pytorch.aten']);
const MAX_GRAPH_DEPTH = 32;

/** True when an external-data location would resolve outside the model's directory. */
export function escapesModelDir(location: string): boolean {
  if (location.includes('\0')) return true;
  if (/^([a-zA-Z]:|[\\/]|~|[a-z][a-z0-9+.-]*:\/\/)/i.test(location)) return true;
  let depth = 0;
  for (const seg of location.split(/[\\/]+/)) {
    if (seg === '..') depth--;
    else if (seg !== '.' && seg !== '') depth++;
    if (depth < 0) return true;
  }
  return false;
}

/**
 * ONNX ModelProto: external tensor data whose path escapes the model directory (arbitrary file
 * read on load), and operators from custom domains (a native custom-op library must be loaded).
 * Initializer payloads (raw_data) are skipped by offset.
 */
export async function scanOnnx(src: RandomSource, ctx: ScanContext): Promise<void> {
  const p = new ProtoReader(src);
  const localDomains = new Set<string>();
  const usedDomains = new Map<string, number>();

  const tensor = async (start: number, end: number): Promise<void> => {
    let name = '';
    for await (const f of p.fields(start, end)) {
      if (f.field === 8 && f.wire === 2) name = await p.string(f, 512);
      if (f.field === 13 && f.wire === 2) {
        let key = '';
        let value = '';
        for await (const kv of p.fields(f.start, f.end)) {
          if (kv.field === 1 && kv.wire === 2) key = await p.string(kv, 256);
          if (kv.field === 2 && kv.wire === 2) value = await p.string(kv, 4096);
        }
        if (key === 'location' && escapesModelDir(value)) {
          ctx.add('onnx/external-data-traversal', 'high', `initializer ${JSON.stringify(name)} loads external data from ${JSON.stringify(value.slice(0, 200))}, outside the model directory`, f.start);
        }
      }
    }
  };
  const node = async (start: number, end: number, depth: number): Promise<void> => {
    let domain = '';
    for await (const f of p.fields(start, end)) {
      if (f.field === 7 && f.wire === 2) domain = await p.string(f, 512);
      if (f.field === 5 && f.wire === 2) {
        for await (const a of p.fields(f.start, f.end)) {
          if (a.wire !== 2) continue;
          if (a.field === 5 || a.field === 10) await tensor(a.start, a.end);
          else if (a.field === 6 || a.field === 11) await graph(a.start, a.end, depth + 1);
          else if (a.field === 22 || a.field === 23) await sparse(a.start, a.end);
        }
      }
    }
    if (!usedDomains.has(domain)) usedDomains.set(domain, start);
  };
  const sparse = async (start: number, end: number): Promise<void> => {
    for await (const f of p.fields(start, end)) if ((f.field === 1 || f.field === 2) && f.wire === 2) await tensor(f.start, f.end);
  };
  const graph = async (start: number, end: number, depth: number): Promise<void> => {
    if (depth > MAX_GRAPH_DEPTH) throw new ProtoError(`subgraphs nested deeper than ${MAX_GRAPH_DEPTH}`);
    for await (const f of p.fields(start, end)) {
      if (f.wire !== 2) continue;
      if (f.field === 1) await node(f.start, f.end, depth);
      else if (f.field === 5) await tensor(f.start, f.end);
      else if (f.field === 15) await sparse(f.start, f.end);
    }
  };

  try {
    for await (const f of p.fields(0, src.size)) {
      if (f.wire !== 2) continue;
      if (f.field === 7) await graph(f.start, f.end, 0);
      else if (f.field === 25) {
        for await (const g of p.fields(f.start, f.end)) {
          if (g.field === 10 && g.wire === 2) localDomains.add(await p.string(g, 512));
          if (g.field === 7 && g.wire === 2) await node(g.start, g.end, 0);
        }
      }
    }
  } catch (err) {
    if (!(err instanceof ProtoError)) throw err;
    ctx.add('onnx/invalid', 'high', `malformed ONNX protobuf (not validated): ${err.message}`);
  }
  for (const [domain, at] of usedDomains) {
    if (standardDomains.has(domain) || localDomains.has(domain)) continue;
    ctx.add('onnx/custom-op-domain', 'medium', `operators from custom domain ${JSON.stringify(domain.slice(0, 200))} need a native custom-op library loaded into the runtime`, at);
  }
}

