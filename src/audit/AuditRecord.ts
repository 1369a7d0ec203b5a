/**
 * One audit record. Serialised as canonical JSON (sorted keys). Holds identifiers only:
 * key ids, SPIFFE IDs, JWT subjects — never a credential, prompt or matched secret.
 */
export interface AuditRecord {
  /** ISO-8601 time the decision was made. */
  ts: string;
  /** 'decision' (a PEP allowed/denied a request), 'admin' (a control-plane change), 'event' (detector, incident, system). */
  kind: 'decision' | 'admin' | 'event';
  requestId?: string;
  principal?: string;
  action: string;
  resource?: string;
  decision?: 'allow' | 'deny';
  /** WARDEN_… code when denied or failed. */
  code?: string;
  /** Determining policy ids and evaluation errors. */
  policies?: string[];
  policyErrors?: string[];
  sourceIp?: string;
  model?: string;
  modelVersion?: string;
  status?: number;
  latencyMs?: number;
  overheadMs?: number;
  detectors?: Record<string, unknown>;
  /** Free-form, secret-free details (admin action arguments, counts). */
  details?: Record<string, unknown>;
}

/** Deterministic JSON: object keys sorted at every level, so hashes are reproducible. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortKeys(v);
    }
    return out;
  }
  return value;
}
