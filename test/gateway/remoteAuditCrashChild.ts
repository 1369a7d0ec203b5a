// Child process for the crash test: reports `ready` once loaded (tsx compiles on a cold cache for
// seconds under load: the parent's deadline for durability must not include that), appends records
// while the control plane is down, reports once every append resolved (durable), then idles until
// the parent SIGKILLs it.
import { RemoteAuditWriter } from '../../src/gateway/index.js';
import { createLogger } from '../../src/observe/index.js';

const [url, spoolDir, count] = process.argv.slice(2) as [string, string, string];
process.stdout.write('ready\n');
const writer = new RemoteAuditWriter({ url, token: 't', pep: 'gw-crash', logger: createLogger({ level: 'silent' }), spoolDir, flushIntervalMs: 10, retryBaseMs: 50, retryMaxMs: 100 });
await Promise.all(
  Array.from({ length: Number(count) }, (_, i) => writer.append({ ts: new Date().toISOString(), kind: 'decision', action: 'invoke', decision: 'allow', requestId: `c-${i}` })),
);
process.stdout.write('durable\n');
setInterval(() => undefined, 1000);
