import { canonicalJson } from '../AuditRecord.js';
import type { AuditEntry } from '../AuditQuery.js';

/** RFC 5424 facility 13: "log audit". */
const FACILITY_LOG_AUDIT = 13;
/** Private enterprise number reserved for documentation (RFC 5612); override for production. */
export const DEFAULT_SD_ID = 'warden@32473';

export interface SyslogFormatOptions {
  hostname: string;
  appName: string;
  procId: string;
  sdId?: string;
}

function severityOf(entry: AuditEntry): number {
  if (entry.record.decision === 'deny') return 4; // warning
  if (entry.record.kind === 'admin') return 5; // notice
  return 6; // informational
}

/** PARAM-VALUE escaping (RFC 5424 §6.3.3): '"', '\' and ']' are backslash-escaped. */
function sdValue(v: string): string {
  return v.replace(/[\\"\]]/g, (c) => `\\${c}`);
}

/** HOSTNAME, APP-NAME, MSGID are PRINTUSASCII without spaces, with length limits; '-' when empty. */
function header(v: string, max: number): string {
  const clean = v.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return clean || '-';
}

/**
 * One RFC 5424 message: `<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG`. The MSG is the
 * canonical JSON record, and the structured data carries the log index and leaf hash so a
 * SIEM can ask Warden for an inclusion proof of exactly this record.
 */
export function formatSyslogMessage(entry: AuditEntry, options: SyslogFormatOptions): string {
  const r = entry.record;
  const pri = FACILITY_LOG_AUDIT * 8 + severityOf(entry);
  const ts = new Date(r.ts);
  const timestamp = Number.isNaN(ts.getTime()) ? '-' : ts.toISOString();
  const params: [string, string | undefined][] = [
    ['index', String(entry.index)],
    ['leafHash', entry.leafHash],
    ['kind', r.kind],
    ['action', r.action],
    ['decision', r.decision],
    ['principal', r.principal],
    ['code', r.code],
    ['requestId', r.requestId],
  ];
  const sd = `[${options.sdId ?? DEFAULT_SD_ID}${params
    .filter((p): p is [string, string] => p[1] !== undefined)
    .map(([k, v]) => ` ${k}="${sdValue(v)}"`)
    .join('')}]`;
  return `<${pri}>1 ${timestamp} ${header(options.hostname, 255)} ${header(options.appName, 48)} ${header(options.procId, 128)} ${header(r.kind, 32)} ${sd} ${canonicalJson(r)}`;
}

/** RFC 6587 §3.4.1 / RFC 5425 octet-counting frame: `<length> <message>`. */
export function frameOctetCounted(message: string): Buffer {
  const body = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `), body]);
}
