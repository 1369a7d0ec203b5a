import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openAuditLog } from '../../src/audit/index.js';
import { auditConfig, sampleRecord, tempDir } from './helpers/fixtures.js';

test('under sustained load a checkpoint is still published promptly (flush waits only for what was queued)', async (t) => {
  const dir = tempDir(t);
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig({ batchSize: 16, flushIntervalMs: 1, fsync: 'none' }) });
  let stop = false;
  const producer = (async () => {
    for (let i = 0; !stop; i++) {
      const p = log.append(sampleRecord(i));
      if (i % 64 === 63) await p;
    }
  })();
  try {
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    const cp = await Promise.race([log.publishCheckpoint(), new Promise<null>((r) => setTimeout(() => r(null), 3000))]);
    assert.ok(cp, 'publishCheckpoint returned while appends kept coming');
    assert.ok(Date.now() - started < 3000);
  } finally {
    stop = true;
    await producer;
    await log.close();
  }
});
