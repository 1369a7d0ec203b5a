import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { openAuditLog, fileAuditLayout, leafHash, provenRecord, canonicalJson, type AuditReader, type RawEntry } from '../../src/audit/index.js';
import { auditConfig, sampleRecord, tempDir } from './helpers/fixtures.js';
import { runCli } from './helpers/cli.js';

/** Segment files of a few entries each; the third renamed to sort right after the second (names say where entries start). */
async function logWithRenamedSegment(dir: string): Promise<{ from: number; renamedFrom: number }> {
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig({ segmentMaxBytes: 4000 }) });
  for (let i = 0; i < 60; i++) await log.append(sampleRecord(i));
  await log.close();
  const seg = fileAuditLayout(dir).segments;
  const names = readdirSync(seg).sort();
  assert.ok(names.length >= 4, `several segments (${names.length})`);
  const second = Number(names[1]!.slice(0, 20));
  const third = Number(names[2]!.slice(0, 20));
  renameSync(join(seg, names[2]!), join(seg, `${String(second + 1).padStart(20, '0')}.log`));
  return { from: second + 2, renamedFrom: third };
}

test('a renamed segment hides no entry from `audit export --from-index` and `audit prove` shows the proven record', async (t) => {
  const dir = tempDir(t);
  const { from, renamedFrom } = await logWithRenamedSegment(dir);
  const r = await runCli(['--data-dir', dir, 'audit', 'export', '--from-index', String(from)]);
  assert.equal(r.code, 0, r.stderr);
  const indexes = r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { index: number }).index);
  assert.deepEqual(indexes, Array.from({ length: 60 - from }, (_, i) => from + i), `entries ${from}..${renamedFrom - 1} included`);

  const p = await runCli(['--data-dir', dir, 'audit', 'prove', '--index', String(from), '--format', 'json']);
  assert.equal(p.code, 0, p.stderr);
  const view = JSON.parse(p.stdout) as { verified: boolean; record: { requestId: string } };
  assert.equal(view.verified, true);
  assert.equal(view.record.requestId, `req-${from}`);

  // The live log (GET /audit/proof/:index?record=1) reads the same way.
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig() });
  t.after(() => log.close());
  assert.equal((await log.prove(from, { withRecord: true })).record?.requestId, `req-${from}`);
});

test('a record whose index or leaf hash is not the proven one is never shown as proven', async () => {
  const json = canonicalJson(sampleRecord(5));
  const reader = (raw: Partial<RawEntry>): AuditReader => ({
    async *entries() {
      yield { position: 5, index: 5, storedHash: leafHash(json), entry: Buffer.from(json), ...raw };
    },
    async *batches() {},
    checkpointNotes: async () => [],
    isEmpty: async () => false,
    close: async () => undefined,
  });
  assert.equal((await provenRecord(reader({}), 5, leafHash(json))).requestId, 'req-5');
  await assert.rejects(provenRecord(reader({ index: 9 }), 5, leafHash(json)), { code: 'WARDEN_AUDIT_TAMPERED' });
  await assert.rejects(provenRecord(reader({ entry: Buffer.from(canonicalJson(sampleRecord(6))) }), 5, leafHash(json)), /not the proven entry/);
});
