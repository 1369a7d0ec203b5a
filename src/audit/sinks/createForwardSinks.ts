import { readFileSync } from 'node:fs';
import type { WardenConfig } from '../../config/index.js';
import { WardenError } from '../../errors/index.js';
import type { AuditSink } from './AuditSink.js';
import { JsonLinesSink } from './JsonLinesSink.js';
import { OtlpHttpSink } from './OtlpHttpSink.js';
import { SyslogSink, parseSyslogUrl } from './SyslogSink.js';

function readCa(path: string | undefined): string | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new WardenError('WARDEN_CONFIG_INVALID', `audit.forward: cannot read CA file ${path}`, { cause });
  }
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
