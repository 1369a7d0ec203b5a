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

/**
 * Deterministic JSON: object keys sorted at every level, so hashes are reproducible.
 * Same output as JSON.stringify over a key-sorted copy (undefined/function members
 * dropped, toJSON honoured), written directly because the copy doubled the append cost.
 */
export function canonicalJson(value: unknown): string {
  // Records built with their keys already in order (the gateway's are) take the native path.
  if (keysInOrder(value, 0)) return JSON.stringify(value) ?? 'null';
  return write(value) ?? 'null';
}

/**
 * True when JSON.stringify(value) is already canonical: every object's own keys (in the order
 * JSON.stringify emits them) are sorted, and nothing has a toJSON that could reorder them.
 */
function keysInOrder(value: unknown, depth: number): boolean {
  if (value === null || typeof value !== 'object') return true;
  if (depth > 32 || typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
  if (Array.isArray(value)) {
    for (const v of value) if (!keysInOrder(v, depth + 1)) return false;
    return true;
  }
  let prev: string | null = null;
  for (const k in value) {
    if (!Object.hasOwn(value, k)) return false;
    if (prev !== null && !(prev < k)) return false;
    prev = k;
    if (!keysInOrder((value as Record<string, unknown>)[k], depth + 1)) return false;
  }
  return true;
}

/** Characters JSON.stringify escapes: quote, backslash, controls and (lone) surrogates. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

function write(value: unknown): string | undefined {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      // Most values need no escaping; skip the JSON.stringify call for them.
      return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : '"' + value + '"';
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      throw new TypeError('Do not know how to serialize a BigInt');
    case 'object':
      break;
    default:
      return undefined; // undefined, function, symbol: omitted (null inside arrays)
  }
  const obj = value as { toJSON?: () => unknown };
  if (typeof obj.toJSON === 'function') return write(obj.toJSON());
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += write(value[i]) ?? 'null';
    }
    return out + ']';
  }
  const keys = Object.keys(value).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = write((value as Record<string, unknown>)[k]);
    if (v === undefined) continue;
    if (!first) out += ',';
    first = false;
    out += (NEEDS_ESCAPE.test(k) ? JSON.stringify(k) : '"' + k + '"') + ':' + v;
  }
  return out + '}';
}
