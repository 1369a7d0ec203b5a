// Child process for the crash test: appends records while the control plane is down, reports once
// every append resolved (durable), then idles until the parent SIGKILLs it.
import { RemoteAuditWriter } from '../../src/gateway/index.js';
import { createLogger } from '../../src/observe/index.js';

const [url, spoolDir, count] = process.argv.slice(2) as [string, string, string];
const writer = new RemoteAuditWriter({ url, token: 't', pep: 'gw-crash', logger: createLogger({ level: 'silent' }), spoolDir, flushIntervalMs: 10, retryBaseMs: 50, retryMaxMs: 100 });
await Promise.all(
  Array.from({ length: Number(count) }, (_, i) => writer.append({ ts: new Date().toISOString(), kind: 'decision', action: 'invoke', decision: 'allow', requestId: `c-${i}` })),
);
process.stdout.write('durable\n');
setInterval(() => undefined, 1000);
