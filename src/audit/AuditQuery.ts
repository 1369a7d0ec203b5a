import { WardenError } from '../errors/index.js';
import type { AuditRecord } from './AuditRecord.js';

/** Filter for `audit tail|query`, GET /audit/records and the console. */
export interface AuditQuery {
  principal?: string;
  decision?: 'allow' | 'deny';
  kind?: AuditRecord['kind'];
  action?: string;
  /** Inclusive lower bound on `ts`. */
  since?: Date;
  /** Exclusive upper bound on `ts`. */
  until?: Date;
  /** Most recent N matches (default 100, at most 10,000). */
  limit?: number;
}

export interface AuditEntry {
  index: number;
  leafHash: string;
  record: AuditRecord;
}

export const MAX_QUERY_LIMIT = 10_000;

/** Validates untrusted query input (CLI flags, query strings) into an AuditQuery. */
export function parseAuditQuery(input: Record<string, unknown>): AuditQuery {
  const q: AuditQuery = {};
  const str = (k: string): string | undefined => {
    const v = input[k];
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string' || v.length > 1024) throw new WardenError('WARDEN_INPUT_INVALID', `${k} must be a string`);
    return v;
  };
  const date = (k: string): Date | undefined => {
    const v = str(k);
    if (v === undefined) return undefined;
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) throw new WardenError('WARDEN_INPUT_INVALID', `${k} must be an ISO-8601 time`);
    return d;
  };
  q.principal = str('principal');
  const decision = str('decision');
  if (decision !== undefined && decision !== 'allow' && decision !== 'deny') throw new WardenError('WARDEN_INPUT_INVALID', 'decision must be allow or deny');
  q.decision = decision;
  const kind = str('kind');
  if (kind !== undefined && !['decision', 'admin', 'event'].includes(kind)) throw new WardenError('WARDEN_INPUT_INVALID', 'kind must be decision, admin or event');
  q.kind = kind as AuditQuery['kind'];
  q.action = str('action');
  q.since = date('since');
  q.until = date('until');
  const limit = input.limit;
  if (limit !== undefined && limit !== '') {
    const n = typeof limit === 'number' ? limit : Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > MAX_QUERY_LIMIT) throw new WardenError('WARDEN_INPUT_INVALID', `limit must be an integer from 1 to ${MAX_QUERY_LIMIT}`);
    q.limit = n;
  }
  for (const k of Object.keys(q) as (keyof AuditQuery)[]) if (q[k] === undefined) delete q[k];
  return q;
}

export function matchesQuery(record: AuditRecord, q: AuditQuery): boolean {
  if (q.principal !== undefined && record.principal !== q.principal) return false;
  if (q.decision !== undefined && record.decision !== q.decision) return false;
  if (q.kind !== undefined && record.kind !== q.kind) return false;
  if (q.action !== undefined && record.action !== q.action) return false;
  if (q.since || q.until) {
    const t = Date.parse(record.ts);
    if (q.since && !(t >= q.since.getTime())) return false;
    if (q.until && !(t < q.until.getTime())) return false;
  }
  return true;
}
