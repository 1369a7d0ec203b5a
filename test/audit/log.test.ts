import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  openAuditLog,
  MerkleAuditLog,
  FileAuditStore,
  FileAuditReader,
  fileAuditLayout,
  loadOrCreateCheckpointSigner,
  openCheckpoint,
  parseVerifierKey,
  verifyInclusionProof,
  verifyConsistencyProof,
  readAuditRecords,
  leafHash,
  canonicalJson,
  type AuditStore,
  type PreparedEntry,
} from '../../src/audit/index.js';
import { auditConfig, sampleRecord, tempDir } from './helpers/fixtures.js';

test('appends become durable entries, covered by signed checkpoints that verify', async (t) => {
  const dir = tempDir(t);
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig() });
  assert.equal(log.size, 0);
  assert.equal(log.latestCheckpoint()?.size, 0, 'a checkpoint exists from the first open');
  await Promise.all(Array.from({ length: 100 }, (_, i) => log.append(sampleRecord(i))));
  assert.equal(log.size, 100);
  const cp = await log.publishCheckpoint();
  assert.equal(cp.size, 100);
  const opened = openCheckpoint(cp.note, [parseVerifierKey(log.verifierKey)], 'warden.local/audit');
  assert.equal(opened.rootHash.toString('hex'), cp.rootHash);
  const report = await log.verify();
  assert.equal(report.ok, true, JSON.stringify(report.errors));
  assert.equal(report.size, 100);
  assert.equal(report.rootHash, cp.rootHash);
  await log.close();
  // Entries are stored as canonical JSON and read back identically.
  const records = await readAuditRecords(dir);
  assert.equal(records.length, 100);
  assert.equal(canonicalJson(records[7]), canonicalJson(sampleRecord(7)));
  assert.equal(statSync(join(dir, 'keys', 'audit-checkpoint.key')).mode & 0o777, 0o600);
});

test('reopening continues the same tree and the new checkpoint is consistent with the old', async (t) => {
  const dir = tempDir(t);
  const a = await openAuditLog({ dataDir: dir, audit: auditConfig() });
  for (let i = 0; i < 10; i++) await a.append(sampleRecord(i));
  await a.close();
  const first = a.latestCheckpoint()!;
  const b = await openAuditLog({ dataDir: dir, audit: auditConfig() });
  assert.equal(b.size, 10);
  for (let i = 10; i < 25; i++) void b.append(sampleRecord(i));
  const second = await b.publishCheckpoint();
  assert.equal(second.size, 25);
  const c = await b.proveConsistency(first.size, second.size);
  assert.ok(verifyConsistencyProof(10, 25, Buffer.from(first.rootHash, 'hex'), Buffer.from(second.rootHash, 'hex'), c.proof.map((h) => Buffer.from(h, 'hex'))));
  assert.equal((await b.verify()).ok, true);
  await b.close();
});

test('inclusion proofs anchor an entry to the signed checkpoint', async (t) => {
  const dir = tempDir(t);
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig() });
  t.after(() => log.close());
  for (let i = 0; i < 37; i++) void log.append(sampleRecord(i));
  const p = await log.prove(20, { withRecord: true });
  assert.equal(p.size, 37, 'a checkpoint is published on demand to cover the entry');
  assert.equal(p.record?.requestId, 'req-20');
  assert.equal(p.leafHash, leafHash(Buffer.from(canonicalJson(sampleRecord(20)))).toString('hex'));
  const cp = openCheckpoint(p.checkpoint.note, [parseVerifierKey(log.verifierKey)]);
  assert.ok(verifyInclusionProof(20, p.size, Buffer.from(p.leafHash, 'hex'), p.proof.map((h) => Buffer.from(h, 'hex')), cp.rootHash));
  await assert.rejects(log.prove(37), { code: 'WARDEN_AUDIT_INDEX_OUT_OF_RANGE' });
  await assert.rejects(log.prove(-1), { code: 'WARDEN_INPUT_INVALID' });
});

test('query filters by principal, decision and time range, newest first', async (t) => {
  const dir = tempDir(t);
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig() });
  t.after(() => log.close());
  await Promise.all(Array.from({ length: 60 }, (_, i) => log.append(sampleRecord(i))));
  const denies = await log.query({ decision: 'deny' });
  assert.deepEqual(denies.map((e) => e.index), [55, 50, 45, 40, 35, 30, 25, 20, 15, 10, 5, 0]);
  const alice = await log.query({ principal: 'User::"alice"', limit: 3 });
  assert.deepEqual(alice.map((e) => e.index), [59, 56, 53]);
  const window = await log.query({ since: new Date(sampleRecord(10).ts), until: new Date(sampleRecord(13).ts) });
  assert.deepEqual(window.map((e) => e.index), [12, 11, 10]);
});

test('invalid and oversized records are rejected with a stable code and nothing is written', async (t) => {
  const dir = tempDir(t);
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig({ maxRecordBytes: 1024 }) });
  t.after(() => log.close());
  await assert.rejects(log.append({ ...sampleRecord(1), ts: 'yesterday' }), { code: 'WARDEN_AUDIT_RECORD_INVALID' });
  await assert.rejects(log.append({ ...sampleRecord(1), kind: 'other' as 'event' }), { code: 'WARDEN_AUDIT_RECORD_INVALID' });
  await assert.rejects(log.append({ ...sampleRecord(1), decision: undefined }), { code: 'WARDEN_AUDIT_RECORD_INVALID' });
  await assert.rejects(log.append({ ...sampleRecord(1), action: '' }), { code: 'WARDEN_AUDIT_RECORD_INVALID' });
  await assert.rejects(log.append(sampleRecord(1, { details: { blob: 'x'.repeat(2000) } })), { code: 'WARDEN_AUDIT_RECORD_INVALID' });
  await log.append(sampleRecord(2));
  assert.equal(log.size, 1);
  assert.equal((await log.verify()).ok, true);
});

test('credentials passed by mistake are redacted before hashing', async (t) => {
  const dir = tempDir(t);
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig() });
  const key = 'wdn_abcdefabcdef_' + 'A'.repeat(43);
  const jwt = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';
  await log.append(sampleRecord(1, { details: { header: `Bearer ${key}`, token: jwt, note: 'ok' } }));
  await log.close();
  const segments = readdirSync(fileAuditLayout(dir).segments);
  const text = segments.map((s) => readFileSync(join(fileAuditLayout(dir).segments, s), 'utf8')).join('');
  assert.ok(!text.includes(key) && !text.includes(jwt) && !text.includes('AAAAAAAAAAAAAAAAAAAA'));
  const [rec] = await readAuditRecords(dir);
  assert.equal((rec!.details as { token: string }).token, '[REDACTED]');
  assert.equal((rec!.details as { note: string }).note, 'ok');
});

test('allowed decisions may be sampled; denies and admin actions never are, and skips are logged', async (t) => {
  const dir = tempDir(t);
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig({ sampleAllowedRate: 0.25, checkpointIntervalMs: 100 }) });
  const total = 200;
  for (let i = 0; i < total; i++) void log.append(sampleRecord(i));
  void log.append({ ts: new Date().toISOString(), kind: 'admin', principal: 'adm_1', action: 'keys.create', resource: 'ApiKey::"x"' });
  await log.flush();
  // Send one more batch after the sampling report interval so the count is flushed into the log.
  await new Promise((r) => setTimeout(r, 120));
  await log.append(sampleRecord(5));
  await log.close();
  const records = await readAuditRecords(dir);
  const denies = records.filter((r) => r.decision === 'deny').length;
  const allows = records.filter((r) => r.decision === 'allow').length;
  assert.equal(denies, total / 5 + 1, 'every deny kept');
  assert.equal(allows, (total * 4) / 5 / 4, 'exactly a quarter of allows kept');
  assert.equal(records.filter((r) => r.kind === 'admin').length, 1);
  const skipped = records.filter((r) => r.action === 'audit.sampled').reduce((n, r) => n + Number((r.details as { skipped: number }).skipped), 0);
  assert.equal(skipped, (total * 4) / 5 - allows, 'every skipped record is counted');
  assert.equal(log.sampledOut, skipped);
});

test('a full queue applies backpressure instead of dropping records', async (t) => {
  const dir = tempDir(t);
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig({ queueLimit: 8, batchSize: 4, flushIntervalMs: 5 }) });
  let maxDepth = 0;
  const acks = Array.from({ length: 200 }, (_, i) => {
    const p = log.append(sampleRecord(i));
    maxDepth = Math.max(maxDepth, log.queueDepth);
    return p;
  });
  await Promise.all(acks);
  assert.ok(maxDepth <= 8, `queue depth ${maxDepth} stayed within the limit`);
  assert.equal(log.size, 200);
  await log.close();
  assert.equal((await readAuditRecords(dir)).map((r) => r.requestId).join(), Array.from({ length: 200 }, (_, i) => `req-${i}`).join());
});

test('detached appends (no promise) queue in order with awaited ones, drop invalid records silently, still wait on a full queue, and count in a failed write', async (t) => {
  const dir = tempDir(t);
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig({ queueLimit: 8, batchSize: 4, flushIntervalMs: 5 }) });
  assert.ok(log instanceof MerkleAuditLog);
  let maxDepth = 0;
  const acks: Promise<void>[] = [];
  for (let i = 0; i < 200; i++) {
    if (i % 3 === 0) acks.push(log.append(sampleRecord(i)));
    else assert.equal(log.appendDetached(sampleRecord(i)), undefined);
    if (i === 50) log.appendDetached({ ...sampleRecord(i), ts: 'yesterday' }); // invalid: dropped, nothing thrown
    maxDepth = Math.max(maxDepth, log.queueDepth);
  }
  await Promise.all(acks);
  await log.flush();
  assert.ok(maxDepth <= 8, `queue depth ${maxDepth} stayed within the limit`);
  assert.equal(log.size, 200);
  await log.close();
  log.appendDetached(sampleRecord(999)); // closed: dropped, nothing thrown
  assert.equal((await readAuditRecords(dir)).map((r) => r.requestId).join(), Array.from({ length: 200 }, (_, i) => `req-${i}`).join());

  // A failed write of detached records only still makes the log fail closed.
  const dir2 = tempDir(t);
  const files = await FileAuditStore.open(dir2, { fsync: true, segmentMaxBytes: 1 << 20 });
  const store: AuditStore = Object.assign(Object.create(files) as AuditStore, {
    async appendEntries() {
      throw Object.assign(new Error('disk full'), { code: 'WARDEN_AUDIT_WRITE_FAILED' });
    },
  });
  const cfg = auditConfig();
  const failing = await MerkleAuditLog.open({ ...cfg, store, signer: loadOrCreateCheckpointSigner({ dataDir: dir2, origin: cfg.origin }), origin: cfg.origin, recoveryProbeMs: 60_000 });
  failing.appendDetached(sampleRecord(1));
  await failing.flush();
  assert.equal(failing.failingClosed, true);
  await assert.rejects(failing.append(sampleRecord(2)), { code: 'WARDEN_AUDIT_WRITE_FAILED' });
  await failing.close().catch(() => undefined);
  await files.close();
});

test('a failed write rejects the whole batch, keeps nothing of it, fails closed until the loss is noted in the log, and the log stays verifiable', async (t) => {
  const dir = tempDir(t);
  const files = await FileAuditStore.open(dir, { fsync: true, segmentMaxBytes: 1 << 20 });
  let failNext = false;
  const store: AuditStore = Object.assign(Object.create(files) as AuditStore, {
    async appendEntries(batch: readonly PreparedEntry[]) {
      if (failNext) {
        failNext = false;
        throw Object.assign(new Error('disk full'), { code: 'WARDEN_AUDIT_WRITE_FAILED' });
      }
      return files.appendEntries(batch);
    },
  });
  const cfg = auditConfig();
  const signer = loadOrCreateCheckpointSigner({ dataDir: dir, origin: cfg.origin });
  const log = await MerkleAuditLog.open({ ...cfg, store, signer, origin: cfg.origin, recoveryProbeMs: 50 });
  await log.append(sampleRecord(0));
  failNext = true;
  const failed = await Promise.allSettled([log.append(sampleRecord(1)), log.append(sampleRecord(2))]);
  assert.deepEqual(failed.map((r) => r.status), ['rejected', 'rejected']);
  assert.equal(log.size, 1);
  assert.equal(log.failingClosed, true, 'PEPs refuse requests rather than serve them unaudited');
  for (let i = 0; i < 100 && log.failingClosed; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(log.failingClosed, false, 'open again once the probe noting the loss is durable');
  const [noted] = await log.query({ action: 'audit.write.failed', limit: 1 });
  assert.equal((noted!.record.details as { recordsLost: number }).recordsLost, 2);
  await log.append(sampleRecord(3));
  assert.equal(log.size, 3);
  const report = await log.verify();
  assert.equal(report.ok, true, JSON.stringify(report.errors));
  await log.close();
});

test('only one writer may open a data dir; a lock left by a dead process is taken over', async (t) => {
  const dir = tempDir(t);
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig() });
  await assert.rejects(openAuditLog({ dataDir: dir, audit: auditConfig() }), { code: 'WARDEN_AUDIT_LOCKED' });
  await log.close();
  const again = await openAuditLog({ dataDir: dir, audit: auditConfig() });
  await again.close();
});

test('segments roll over by size and the log verifies and proves across them', async (t) => {
  const dir = tempDir(t);
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig({ segmentMaxBytes: 4096, batchSize: 8 }) });
  for (let i = 0; i < 120; i++) await log.append(sampleRecord(i));
  const segments = readdirSync(fileAuditLayout(dir).segments);
  assert.ok(segments.length > 3, `${segments.length} segments`);
  const p = await log.prove(97, { withRecord: true });
  assert.equal(p.record?.requestId, 'req-97');
  assert.equal((await log.verify()).ok, true);
  await log.close();
  let n = 0;
  for await (const e of new FileAuditReader(fileAuditLayout(dir)).entries(50)) {
    assert.equal(e.index, 50 + n++);
  }
  assert.equal(n, 70);
});

test('offline verify while the writer appends never reports a false truncation', async (t) => {
  const dir = tempDir(t);
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig({ checkpointIntervalMs: 100, batchSize: 64, flushIntervalMs: 2 }) });
  await Promise.all(Array.from({ length: 3000 }, (_, i) => log.append(sampleRecord(i))));
  let stop = false;
  const writer = (async () => {
    for (let i = 3000; !stop; i++) {
      await log.append(sampleRecord(i));
      if (i % 3 === 0) await log.publishCheckpoint();
    }
  })();
  const { verifyAuditLog, readVerifierKeys } = await import('../../src/audit/index.js');
  for (let k = 0; k < 5; k++) {
    const report = await verifyAuditLog(new FileAuditReader(fileAuditLayout(dir)), { verifiers: readVerifierKeys({ dataDir: dir }) });
    assert.equal(report.ok, true, JSON.stringify(report.errors));
  }
  stop = true;
  await writer;
  await log.close();
});

test('a torn final line (crash mid-write, never acknowledged) is cut on open and the log carries on', async (t) => {
  const dir = tempDir(t);
  const a = await openAuditLog({ dataDir: dir, audit: auditConfig() });
  for (let i = 0; i < 5; i++) await a.append(sampleRecord(i));
  await a.close();
  const layout = fileAuditLayout(dir);
  const seg = join(layout.segments, readdirSync(layout.segments)[0]!);
  const { appendFileSync } = await import('node:fs');
  appendFileSync(seg, '5\tdeadbeef\t{"half":');
  appendFileSync(layout.checkpoints, '{"note":"warden.local/au');
  const b = await openAuditLog({ dataDir: dir, audit: auditConfig() });
  assert.equal(b.size, 5);
  await b.append(sampleRecord(5));
  await b.close();
  assert.ok(readFileSync(seg, 'utf8').endsWith('\n'));
  assert.deepEqual((await readAuditRecords(dir)).map((r) => r.requestId), ['req-0', 'req-1', 'req-2', 'req-3', 'req-4', 'req-5']);
  const { verifyAuditLog, readVerifierKeys } = await import('../../src/audit/index.js');
  const report = await verifyAuditLog(new FileAuditReader(layout), { verifiers: readVerifierKeys({ dataDir: dir }) });
  assert.equal(report.ok, true, JSON.stringify(report.errors));
  assert.equal(report.size, 6);
});

test('with small in-memory groups, proofs and checkpoints read older groups back and catch rewritten storage', async (t) => {
  const dir = tempDir(t);
  const cfg = auditConfig({ treeMinLevel: 2, segmentMaxBytes: 8192 });
  const a = await openAuditLog({ dataDir: dir, audit: cfg });
  for (let i = 0; i < 30; i++) await a.append(sampleRecord(i));
  const cp1 = await a.publishCheckpoint();
  for (let i = 30; i < 53; i++) void a.append(sampleRecord(i));
  const cp2 = await a.publishCheckpoint();
  const c = await a.proveConsistency(cp1.size, cp2.size);
  assert.ok(verifyConsistencyProof(cp1.size, cp2.size, Buffer.from(cp1.rootHash, 'hex'), Buffer.from(cp2.rootHash, 'hex'), c.proof.map((h) => Buffer.from(h, 'hex'))));
  for (const i of [0, 5, 29, 41, 52]) {
    const p = await a.prove(i, { withRecord: true });
    assert.equal(p.record?.requestId, `req-${i}`);
    assert.ok(verifyInclusionProof(i, p.size, Buffer.from(p.leafHash, 'hex'), p.proof.map((h) => Buffer.from(h, 'hex')), Buffer.from(p.rootHash, 'hex')), `proof ${i}`);
  }
  await a.close();
  // Reopen (the checkpoint's group is checked on the way) and keep going.
  const b = await openAuditLog({ dataDir: dir, audit: cfg });
  await b.append(sampleRecord(53));
  assert.equal((await b.publishCheckpoint()).size, 54);
  // Rewrite entry 9 together with its stored hash while the log runs: proofs in its group refuse.
  const layout = fileAuditLayout(dir);
  const segs = readdirSync(layout.segments).sort();
  const path = join(layout.segments, segs[0]!);
  const text = readFileSync(path, 'utf8');
  const line = text.split('\n')[9]!;
  const [idx, , json] = line.split('\t') as [string, string, string];
  const changed = json.replace('req-9', 'req-X');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(path, text.replace(line, `${idx}\t${leafHash(Buffer.from(changed)).toString('hex')}\t${changed}`));
  await assert.rejects(b.prove(10), { code: 'WARDEN_AUDIT_TAMPERED' });
  assert.equal((await b.prove(40)).index, 40, 'other groups still prove');
  await b.close();
});

test('group commit: records that arrive while a batch is being written share the next write instead of one write each', async (t) => {
  const dir = tempDir(t);
  const files = await FileAuditStore.open(dir, { fsync: true, segmentMaxBytes: 1 << 20 });
  const writes: number[] = [];
  const gate: { release: (() => void) | null } = { release: null };
  const store: AuditStore = Object.assign(Object.create(files) as AuditStore, {
    async appendEntries(batch: readonly PreparedEntry[]) {
      writes.push(batch.length);
      if (writes.length === 1) await new Promise<void>((r) => (gate.release = r));
      return files.appendEntries(batch);
    },
  });
  const cfg = auditConfig({ batchSize: 512, flushIntervalMs: 200 });
  const signer = loadOrCreateCheckpointSigner({ dataDir: dir, origin: cfg.origin });
  const log = await MerkleAuditLog.open({ ...cfg, store, signer, origin: cfg.origin });
  const first = log.append(sampleRecord(0));
  while (!gate.release) await new Promise((r) => setTimeout(r, 1));
  const during = [1, 2, 3, 4, 5].map((i) => log.append(sampleRecord(i)));
  gate.release();
  await first;
  await new Promise((r) => setTimeout(r, 5));
  // Trickling arrivals after the first write: they wait for the flush timer, not a write each.
  const after = [6, 7, 8].map((i) => log.append(sampleRecord(i)));
  await Promise.all([...during, ...after]);
  assert.deepEqual(writes, [1, 8]);
  assert.equal(log.size, 9);
  assert.equal((await log.verify()).ok, true);
  await log.close();
});
