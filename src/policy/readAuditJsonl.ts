import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { WardenError } from '../errors/index.js';
import type { ObservedDecision } from './analyzePolicySet.js';

const MAX_LINE = 1024 * 1024;

/**
 * Reads decision records for the analyzer from JSON Lines: one audit record per line, or the
 * `{ index, record }` entries `warden audit export` writes. Streams: files may be large.
 */
export async function readAuditJsonl(path: string, options: { since?: Date } = {}): Promise<ObservedDecision[]> {
  const out: ObservedDecision[] = [];
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const line of lines) {
      n++;
      if (line.trim() === '') continue;
      if (line.length > MAX_LINE) throw new WardenError('WARDEN_POLICY_AUDIT_INVALID', `${path}:${n}: line longer than ${MAX_LINE} bytes`);
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        throw new WardenError('WARDEN_POLICY_AUDIT_INVALID', `${path}:${n}: not JSON`);
      }
      const r = ((v as { record?: unknown }).record ?? v) as Partial<ObservedDecision>;
      if (typeof r !== 'object' || r === null || typeof r.ts !== 'string' || typeof r.kind !== 'string' || typeof r.action !== 'string') {
        throw new WardenError('WARDEN_POLICY_AUDIT_INVALID', `${path}:${n}: expected an audit record with ts, kind and action`);
      }
      if (r.kind !== 'decision') continue;
      if (options.since && Date.parse(r.ts) < options.since.getTime()) continue;
      out.push(r as ObservedDecision);
    }
  } catch (err) {
    if (err instanceof WardenError) throw err;
    throw new WardenError('WARDEN_IO', `cannot read ${path}`, { cause: err });
  }
  return out;
}
