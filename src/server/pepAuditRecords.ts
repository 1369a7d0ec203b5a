import { WardenError, toWardenError } from '../errors/index.js';
import { serializeRecord, validateRecord, type AuditRecord } from '../audit/index.js';

/**
 * How far ahead of this clock a PEP's record time may be: the largest clock skew a gateway may be
 * configured to tolerate (gateway.clockSkewSeconds, at most 300 s). Later records are refused: a
 * record "from the future" would sort after everything written until then and move a key's
 * last use forward.
 */
export const PEP_MAX_CLOCK_SKEW_MS = 300_000;

/** The only event a gateway writes (gatewayPlugins.detectorAlarmRecord); all its other records are decisions. */
const PEP_EVENT_ACTIONS = new Set(['detector.alarm']);

/** Details the control plane sets on every record a PEP delivers; whatever the PEP sent under these names is replaced. */
export interface PepDelivery {
  /** The gateway name the batch carries (chosen by the gateway). */
  pep: string;
  /** The id of the PEP token that delivered the batch (the server's own, not chosen by the gateway). */
  pepTokenId: string;
  /** When this control plane received the batch (ISO-8601); records may be older (spooled during an outage). */
  receivedAt: string;
}

function refuse(index: number, why: string): never {
  throw new WardenError('WARDEN_AUDIT_PEP_RECORD_REFUSED', `records[${index}]: ${why}; nothing of the batch was stored`);
}

/**
 * Checks a PEP's audit batch as a whole before any record is appended (a refused batch leaves
 * nothing behind) and returns the records to append. A PEP token writes what gateways write:
 * decisions and detector alarm events, about callers of the gateway, at a time no later than
 * this clock allows. Admin records and `Admin::` principals are the control plane's alone.
 */
export function pepAuditRecords(records: readonly Record<string, unknown>[], delivery: PepDelivery, now: number, maxRecordBytes: number): AuditRecord[] {
  const latest = now + PEP_MAX_CLOCK_SKEW_MS;
  return records.map((sent, i) => {
    const kind = sent.kind;
    if (kind !== 'decision' && kind !== 'event') refuse(i, `kind ${JSON.stringify(kind)} is not written by gateways (decision or event)`);
    if (kind === 'event' && !PEP_EVENT_ACTIONS.has(sent.action as string)) refuse(i, `event ${JSON.stringify(sent.action)} is not written by gateways (${[...PEP_EVENT_ACTIONS].join(', ')})`);
    if (typeof sent.principal === 'string' && sent.principal.startsWith('Admin::')) refuse(i, 'an Admin:: principal is not a gateway caller');
    const at = typeof sent.ts === 'string' ? Date.parse(sent.ts) : NaN;
    if (!Number.isFinite(at)) refuse(i, 'ts must be an ISO-8601 time');
    if (at > latest) refuse(i, `ts ${JSON.stringify(sent.ts)} is more than ${PEP_MAX_CLOCK_SKEW_MS / 1000} s ahead of the control plane's clock`);
    const details = sent.details;
    if (details !== undefined && (details === null || typeof details !== 'object' || Array.isArray(details))) refuse(i, 'details must be an object');
    const record = { ...sent, details: { ...(details as Record<string, unknown> | undefined), ...delivery } } as unknown as AuditRecord;
    try {
      // What the log would refuse when it writes, refused now: a batch is stored whole or not at all.
      validateRecord(record);
      serializeRecord(record, maxRecordBytes);
    } catch (err) {
      refuse(i, toWardenError(err).message);
    }
    return record;
  });
}
