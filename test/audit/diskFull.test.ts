import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { MerkleAuditLog, FileAuditStore, loadOrCreateCheckpointSigner, type AuditRecord, type AuditStore, type PreparedEntry } from '../../src/audit/index.js';
import { auditConfig, sampleRecord, tempDir } from './helpers/fixtures.js';

/**
 * A disk that is full except for `disk.free` bytes: a batch larger than that fails (and is
 * truncated away, as FileAuditStore does), a smaller one fits. statfs reports the same number.
 * This is the steady-full disk of the report: the few KiB a truncated batch frees take a probe
 * record but not the next batch of served requests.
 */
async function fullDiskLog(t: TestContext, disk: { free: number; statfsCalls: number }, batchSize?: number): Promise<MerkleAuditLog> {
  const dir = tempDir(t);
  const files = await FileAuditStore.open(dir, { fsync: false, segmentMaxBytes: 1 << 20 });
  const store: AuditStore = Object.assign(Object.create(files) as AuditStore, {
    async appendEntries(batch: readonly PreparedEntry[]) {
      const bytes = batch.reduce((n, e) => n + e.json.length + 90, 0);
      if (bytes > disk.free) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'WARDEN_AUDIT_WRITE_FAILED' });
      return files.appendEntries(batch);
    },
    async freeBytes() {
      disk.statfsCalls++;
      return disk.free;
    },
  });
  const cfg = auditConfig(batchSize ? { batchSize } : {});
  const signer = loadOrCreateCheckpointSigner({ dataDir: dir, origin: cfg.origin });
  const log = await MerkleAuditLog.open({ ...cfg, store, signer, origin: cfg.origin, recoveryProbeMs: 10 });
  t.after(() => log.close());
  return log;
}

async function until(what: string, done: () => boolean | Promise<boolean>, each: () => void = () => undefined): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await done())) {
    each();
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A gateway's record of a request it refused because the log was failing closed (pipeline servingRefusal). */
function refusal(i: number): AuditRecord {
  return sampleRecord(i, { code: 'WARDEN_AUDIT_WRITE_FAILED', status: 503, decision: 'allow' });
}

const GiB = 1 << 30;

test('while the disk stays full the log stays fail-closed across probe cycles, even though a probe record would fit; it opens once there is headroom', async (t) => {
  const disk = { free: GiB, statfsCalls: 0 };
  const log = await fullDiskLog(t, disk);
  await log.append(sampleRecord(0));

  disk.free = 2048; // what a truncated failed batch leaves free on a full disk
  const served = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => log.append(sampleRecord(1 + i))));
  assert.ok(served.every((r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'WARDEN_AUDIT_WRITE_FAILED'));
  assert.equal(log.failingClosed, true);

  // Several probe cycles with the disk still full: no request may be admitted at any point.
  const from = disk.statfsCalls;
  await until(
    'five probe cycles',
    () => disk.statfsCalls >= from + 5,
    () => assert.equal(log.failingClosed, true, 'a full disk must not reopen the log'),
  );
  assert.equal(log.failingClosed, true);
  assert.equal(log.size, 1, 'no probe record was written into the freed block');

  disk.free = GiB;
  await until('the log to open again', () => !log.failingClosed);
  const [noted] = await log.query({ action: 'audit.write.failed', limit: 5 });
  assert.deepEqual(noted!.record.details, { recordsLost: 8, refusedLost: 0, servedLost: 8, since: (noted!.record.details as { since: string }).since });
  await log.append(sampleRecord(20));
  assert.equal(log.size, 3);
  assert.equal((await log.verify()).ok, true);
});

test('the headroom needed grows with the batches that failed: free space of less than four of them keeps the log closed', async (t) => {
  const disk = { free: GiB, statfsCalls: 0 };
  const log = await fullDiskLog(t, disk, 100_000); // every append below goes in one group commit
  disk.free = 0;
  // One batch: 200 records of ~4 KiB (≈ 0.8 MiB), so 4 batches ≈ 3.3 MiB, under 16 MiB…
  const big = (i: number): AuditRecord => sampleRecord(i, { details: { note: 'x'.repeat(4000) } });
  await Promise.allSettled(Array.from({ length: 200 }, (_, i) => log.append(big(i))));
  assert.equal(log.failingClosed, true);
  // …so 16 MiB free (the default minimum) is enough here…
  disk.free = 16 * 1024 * 1024;
  await until('the log to open at the default minimum', () => !log.failingClosed);

  // …but after a failed batch of ~8 MiB (2000 records), 16 MiB is not: it takes 4 × 8 MiB.
  disk.free = 0;
  await Promise.allSettled(Array.from({ length: 2000 }, (_, i) => log.append(big(1000 + i))));
  assert.equal(log.failingClosed, true);
  disk.free = 16 * 1024 * 1024;
  const from = disk.statfsCalls;
  await until(
    'three probe cycles',
    () => disk.statfsCalls >= from + 3,
    () => assert.equal(log.failingClosed, true),
  );
  disk.free = 40 * 1024 * 1024;
  await until('the log to open with 4 batches of room', () => !log.failingClosed);
});

test('audit.write.failed separates refusals made while failing closed from records of requests that were answered', async (t) => {
  const disk = { free: GiB, statfsCalls: 0 };
  const log = await fullDiskLog(t, disk);
  disk.free = 0; // nothing fits, not even a probe
  // One group commit: two served requests (one allowed, one denied by policy) and three fail-closed refusals.
  const lost = await Promise.allSettled([log.append(sampleRecord(1)), log.append(sampleRecord(5)), log.append(refusal(2)), log.append(refusal(3)), log.append(refusal(4))]);
  assert.ok(lost.every((r) => r.status === 'rejected'));
  // A later refusal fails too while the disk is full; it joins the refused count.
  await assert.rejects(log.append(refusal(6)), { code: 'WARDEN_AUDIT_WRITE_FAILED' });
  disk.free = GiB;
  await until('the log to open again', () => !log.failingClosed);
  const events = await log.query({ action: 'audit.write.failed', limit: 5 });
  const details = events.map((e) => e.record.details as Record<string, unknown>);
  const sum = (k: string): number => details.reduce((n, d) => n + (d[k] as number), 0);
  assert.equal(sum('refusedLost'), 4);
  assert.equal(sum('servedLost'), 2);
  assert.equal(sum('recordsLost'), 6, 'recordsLost keeps its meaning: every lost record');
  assert.ok(details.every((d) => typeof d.since === 'string'));
});

test('the file store reports the free space of its filesystem', async (t) => {
  const files = await FileAuditStore.open(tempDir(t), { fsync: false, segmentMaxBytes: 1 << 20 });
  t.after(() => files.close());
  const free = await files.freeBytes();
  assert.ok(Number.isSafeInteger(free) && free > 0, String(free));
});
