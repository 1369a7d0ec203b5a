import type { Agent } from 'undici';
import { WardenError } from '../../errors/index.js';
import type { AuditEntry } from '../AuditQuery.js';
import { canonicalJson } from '../AuditRecord.js';
import type { AuditSink } from './AuditSink.js';

export interface OtlpHttpSinkOptions {
  /** Full logs endpoint, e.g. http://127.0.0.1:4318/v1/logs */
  url: string;
  headers?: Record<string, string>;
  ca?: string;
  serviceName?: string;
  timeoutMs?: number;
}

type AnyValue = { stringValue: string } | { intValue: string } | { doubleValue: number };

function attr(key: string, value: string | number | undefined): { key: string; value: AnyValue } | null {
  if (value === undefined) return null;
  if (typeof value === 'number') return { key, value: Number.isInteger(value) ? { intValue: String(value) } : { doubleValue: value } };
  return { key, value: { stringValue: value } };
}

/** OTLP/JSON ExportLogsServiceRequest for a batch (opentelemetry-proto logs/v1, JSON mapping). */
export function toOtlpLogsRequest(entries: readonly AuditEntry[], serviceName = 'warden'): unknown {
  return {
    resourceLogs: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: serviceName } }] },
        scopeLogs: [
          {
            scope: { name: 'warden.audit' },
            logRecords: entries.map((e) => {
              const r = e.record;
              const deny = r.decision === 'deny';
              const ms = Date.parse(r.ts);
              return {
                timeUnixNano: (BigInt(Number.isNaN(ms) ? 0 : ms) * 1_000_000n).toString(),
                severityNumber: deny ? 13 : 9, // WARN : INFO
                severityText: deny ? 'WARN' : 'INFO',
                body: { stringValue: canonicalJson(r) },
                attributes: [
                  attr('warden.audit.index', e.index),
                  attr('warden.audit.leaf_hash', e.leafHash),
                  attr('warden.audit.kind', r.kind),
                  attr('warden.audit.action', r.action),
                  attr('warden.audit.decision', r.decision),
                  attr('warden.audit.principal', r.principal),
                  attr('warden.audit.code', r.code),
                  attr('warden.request_id', r.requestId),
                  attr('client.address', r.sourceIp),
                ].filter((a) => a !== null),
              };
            }),
          },
        ],
      },
    ],
  };
}

/** OTLP/HTTP logs exporter (JSON encoding), as accepted by the OpenTelemetry Collector. */
export class OtlpHttpSink implements AuditSink {
  readonly name = 'otlp-http';
  private agent: Agent | null = null;

  constructor(private readonly options: OtlpHttpSinkOptions) {
    if (!/^https?:\/\//.test(options.url)) throw new WardenError('WARDEN_INPUT_INVALID', 'OTLP endpoint must be an http(s) URL');
  }

  async send(entries: readonly AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    let status: number;
    try {
      // undici is loaded on first use so processes that never export do not pay for it.
      const { Agent, request } = await import('undici');
      const t = this.options.timeoutMs ?? 10_000;
      this.agent ??= new Agent({ connect: { ca: this.options.ca, minVersion: 'TLSv1.2' }, headersTimeout: t, bodyTimeout: t });
      const res = await request(this.options.url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: { 'content-type': 'application/json', ...this.options.headers },
        body: JSON.stringify(toOtlpLogsRequest(entries, this.options.serviceName)),
      });
      status = res.statusCode;
      await res.body.dump();
    } catch (cause) {
      throw new WardenError('WARDEN_AUDIT_SINK_FAILED', `cannot reach the OTLP endpoint: ${(cause as Error).message}`, { cause });
    }
    if (status < 200 || status >= 300) throw new WardenError('WARDEN_AUDIT_SINK_FAILED', `the OTLP endpoint answered ${status}`);
  }

  async close(): Promise<void> {
    await this.agent?.close();
  }
}
