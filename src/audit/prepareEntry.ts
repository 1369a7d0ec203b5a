import { WardenError } from '../errors/index.js';
import { canonicalJson, type AuditRecord } from './AuditRecord.js';
import { leafHash } from './merkle/index.js';
import type { PreparedEntry } from './storage/index.js';

const KINDS = new Set(['decision', 'admin', 'event']);
const MAX_FIELD = 1024;

/**
 * Credentials that must never reach an audit record even if a caller passes one by
 * mistake: Warden API keys and admin tokens, JWTs, bearer values and PEM private keys.
 */
const SECRET_PATTERN =
  /wd[nt]_[A-Za-z0-9_]{8,}_[A-Za-z0-9_-]{20,}|eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*|[Bb]earer [A-Za-z0-9._~+/-]{8,}=*|-----BEGIN [A-Z ]*PRIVATE KEY-----[^"]*/g;

export const REDACTED = '[REDACTED]';

const ESCAPES = /(?:%[0-9A-Fa-f]{2})+/g;

/**
 * Percent-decodes without ever throwing: a run of escapes that is not UTF-8 decodes to U+FFFD
 * where it is invalid, so a malformed escape next to a key cannot hide the key. Decoded until
 * stable (a few rounds) so a twice-encoded key is found as well.
 */
function decodePercentLeniently(s: string): string {
  for (let round = 0; round < 4 && s.includes('%'); round++) {
    const next = s.replace(ESCAPES, (run) => Buffer.from(run.replaceAll('%', ''), 'hex').toString('utf8'));
    if (next === s) break;
    s = next;
  }
  return s;
}

function hasSecret(s: string): boolean {
  SECRET_PATTERN.lastIndex = 0;
  const found = SECRET_PATTERN.test(s);
  SECRET_PATTERN.lastIndex = 0;
  return found;
}

/**
 * A copy of `value` in which every string that hides a credential behind percent escapes (a key
 * pasted into a URL path: /v1/wdn%5F…) is replaced by its decoded, redacted form; `value` itself
 * when there is none. Other strings keep their exact text.
 */
function redactEncoded(value: unknown, depth: number): unknown {
  if (typeof value === 'string') {
    if (!value.includes('%')) return value;
    const decoded = decodePercentLeniently(value);
    return decoded !== value && hasSecret(decoded) ? decoded.replace(SECRET_PATTERN, REDACTED) : value;
  }
  if (value === null || typeof value !== 'object' || depth > 32) return value;
  if (Array.isArray(value)) {
    let out: unknown[] | null = null;
    value.forEach((v, i) => {
      const r = redactEncoded(v, depth + 1);
      if (r !== v) (out ??= value.slice())[i] = r;
    });
    return out ?? value;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) return value;
  let out: Record<string, unknown> | null = null;
  for (const [k, v] of Object.entries(value)) {
    const r = redactEncoded(v, depth + 1);
    if (r !== v) (out ??= { ...value })[k] = r;
  }
  return out ?? value;
}

/** The last ts that parsed: records of one millisecond share their ts string, so each is parsed once. */
let lastValidTs: string | null = null;

/** Cheap checks done on the request path so a bad record fails its caller, not a whole batch. */
export function validateRecord(record: AuditRecord): void {
  if (!record || typeof record !== 'object') throw new WardenError('WARDEN_AUDIT_RECORD_INVALID', 'an audit record must be an object');
  const ts = record.ts;
  if (typeof ts !== 'string' || (ts !== lastValidTs && Number.isNaN(Date.parse(ts)))) throw new WardenError('WARDEN_AUDIT_RECORD_INVALID', 'ts must be an ISO-8601 time');
  lastValidTs = ts;
  if (!KINDS.has(record.kind)) throw new WardenError('WARDEN_AUDIT_RECORD_INVALID', 'kind must be decision, admin or event');
  if (typeof record.action !== 'string' || record.action.length === 0 || record.action.length > MAX_FIELD) {
    throw new WardenError('WARDEN_AUDIT_RECORD_INVALID', 'action must be a non-empty string');
  }
  if (record.decision !== undefined && record.decision !== 'allow' && record.decision !== 'deny') {
    throw new WardenError('WARDEN_AUDIT_RECORD_INVALID', 'decision must be allow or deny');
  }
  if (record.kind === 'decision' && record.decision === undefined) throw new WardenError('WARDEN_AUDIT_RECORD_INVALID', 'a decision record needs decision');
  for (const key of ['principal', 'resource', 'requestId', 'sourceIp', 'model', 'modelVersion'] as const) {
    const v = record[key];
    if (v !== undefined && (typeof v !== 'string' || v.length > MAX_FIELD)) throw new WardenError('WARDEN_AUDIT_RECORD_INVALID', `${key} must be a string of at most ${MAX_FIELD} characters`);
  }
}

/** Canonical JSON with any credential-looking value replaced; exactly what gets hashed. */
export function serializeRecord(record: AuditRecord, maxBytes: number): string {
  return serialize(record, maxBytes).json;
}

function serialize(record: AuditRecord, maxBytes: number): { json: string; redacted: boolean } {
  let json: string;
  try {
    json = canonicalJson(record);
  } catch (cause) {
    throw new WardenError('WARDEN_AUDIT_RECORD_INVALID', 'the audit record cannot be serialised as JSON', { cause });
  }
  // Escapes are rare in records: only then are the strings walked for encoded credentials.
  let redacted = false;
  if (json.includes('%')) {
    const decoded = redactEncoded(record, 0);
    if (decoded !== record) {
      json = canonicalJson(decoded);
      redacted = true;
    }
  }
  if (hasSecret(json)) {
    json = json.replace(SECRET_PATTERN, REDACTED);
    redacted = true;
  }
  // UTF-8 is at most 3 bytes per UTF-16 unit: count exactly only when it could matter.
  if (json.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(json, 'utf8');
    if (bytes > maxBytes) throw new WardenError('WARDEN_AUDIT_RECORD_INVALID', `the audit record is ${bytes} bytes (limit ${maxBytes})`);
  }
  return { json, redacted };
}

export function prepareEntry(record: AuditRecord, index: number, maxBytes: number): PreparedEntry {
  const { json, redacted } = serialize(record, maxBytes);
  // Database columns say what the hashed entry says (verify holds them to it), and never hold what was redacted.
  if (redacted) record = JSON.parse(json) as AuditRecord;
  return {
    index,
    leafHash: leafHash(json),
    json,
    ts: record.ts,
    kind: record.kind,
    principal: record.principal ?? null,
    action: record.action,
    decision: record.decision ?? null,
  };
}
