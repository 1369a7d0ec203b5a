// Child process for the crash test: appends as fast as the log accepts and prints the highest
// acknowledged sequence number after each acknowledgement (stdout to a pipe is synchronous on
// Linux, so a printed number was acknowledged before any SIGKILL).
import { openAuditLog } from '../../../src/audit/index.js';
import { auditConfig } from './fixtures.js';

const [dataDir, run] = process.argv.slice(2) as [string, string];
// Start-up (loading TypeScript) overlaps with the previous writer's run: say "ready", then
// wait for "go" before touching the log.
process.stdout.write('ready\n');
await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
const log = await openAuditLog({ dataDir, audit: auditConfig({ checkpointIntervalMs: 100, batchSize: 256, flushIntervalMs: 2 }) });
let maxAck = -1;
let reported = -1;
let scheduled = false;
const report = (): void => {
  scheduled = false;
  if (maxAck > reported) {
    reported = maxAck;
    process.stdout.write(`${maxAck}\n`);
  }
};
for (let seq = 0; ; seq++) {
  const p = log.append({ ts: new Date().toISOString(), kind: 'decision', action: 'inference', decision: seq % 7 === 0 ? 'deny' : 'allow', principal: `run-${run}`, requestId: `${run}:${seq}` });
  const s = seq;
  p.then(() => {
    if (s > maxAck) maxAck = s;
    if (!scheduled) {
      scheduled = true;
      setImmediate(report);
    }
  });
  // Bounded in-flight work: wait for durability every so often (this is the "full speed" loop).
  if (seq % 512 === 511) await p;
}
