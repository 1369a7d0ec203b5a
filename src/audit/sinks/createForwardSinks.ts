import type { WardenConfig } from '../../config/index.js';
import { readCaFile } from '../../config/readCaFile.js';
import type { AuditSink } from './AuditSink.js';
import { JsonLinesSink } from './JsonLinesSink.js';
import { OtlpHttpSink } from './OtlpHttpSink.js';
import { SyslogSink, parseSyslogUrl } from './SyslogSink.js';

function readCa(path: string | undefined): string | undefined {
  return path ? readCaFile(path, 'audit.forward') : undefined;
}

/** Builds the sinks of `audit.forward` (config already validated by zod). */
export async function createForwardSinks(targets: WardenConfig['audit']['forward']): Promise<AuditSink[]> {
  const sinks: AuditSink[] = [];
  for (const t of targets) {
    if (t.type === 'jsonl') sinks.push(await JsonLinesSink.toFile(t.path));
    else if (t.type === 'syslog') {
      const u = parseSyslogUrl(t.url);
      sinks.push(new SyslogSink({ host: u.host, port: u.port, tls: u.tls ? { ca: readCa(t.caFile) } : undefined }));
    } else sinks.push(new OtlpHttpSink({ url: t.url, headers: t.headers, ca: readCa(t.caFile) }));
  }
  return sinks;
}
