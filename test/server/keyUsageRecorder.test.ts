import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, ApiKeyRepository } from '../../src/store/index.js';
import { KeyUsageRecorder } from '../../src/server/KeyUsageRecorder.js';

test('keys used through a gateway get last_used_at (one UPDATE per flush); unused keys keep null', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-keyusage-'));
  const db = await openStore({ dataDir: dir });
  try {
    const repo = new ApiKeyRepository(db, randomBytes(32));
    const used = await repo.create({ name: 'used' });
    const idle = await repo.create({ name: 'idle' });
    const recorder = new KeyUsageRecorder(db, { warn: () => undefined }, 3_600_000);
    const t = (iso: string): number => Date.parse(iso);
    recorder.onDecision({ principalId: used.record.id, authn: 'api-key', at: t('2030-01-02T03:04:05Z') });
    recorder.onDecision({ principalId: used.record.id, authn: 'api-key', at: t('2030-01-02T03:04:01Z') }); // an older record, replayed
    recorder.onDecision({ principalId: idle.record.id, authn: 'jwt' }); // a JWT subject that looks like a key id
    await recorder.flush(new Date('2030-01-02T03:04:30Z'));
    const lastUsed = async (id: string): Promise<string | undefined> => (await repo.list()).find((k) => k.id === id)!.lastUsedAt?.toISOString();
    assert.equal(await lastUsed(used.record.id), '2030-01-02T03:04:05.000Z', 'the time of the latest request, not of the write');
    assert.equal(await lastUsed(idle.record.id), undefined);
    // Records a gateway replays after an outage do not move it back; a clock ahead is cut to the write time.
    recorder.onDecision({ principalId: used.record.id, authn: 'api-key', at: t('2030-01-01T00:00:00Z') });
    await recorder.flush(new Date('2030-01-02T04:00:00Z'));
    assert.equal(await lastUsed(used.record.id), '2030-01-02T03:04:05.000Z');
    recorder.onDecision({ principalId: used.record.id, authn: 'api-key', at: t('2031-01-01T00:00:00Z') });
    await recorder.flush(new Date('2030-01-02T05:00:00Z'));
    assert.equal(await lastUsed(used.record.id), '2030-01-02T05:00:00.000Z');
    await recorder.close();
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
