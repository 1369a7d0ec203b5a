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
    recorder.onDecision({ principalId: used.record.id, authn: 'api-key' });
    recorder.onDecision({ principalId: used.record.id, authn: 'api-key' });
    recorder.onDecision({ principalId: idle.record.id, authn: 'jwt' }); // a JWT subject that looks like a key id
    const at = new Date('2030-01-02T03:04:05Z');
    await recorder.flush(at);
    const keys = await repo.list();
    assert.equal(keys.find((k) => k.id === used.record.id)!.lastUsedAt?.toISOString(), at.toISOString());
    assert.equal(keys.find((k) => k.id === idle.record.id)!.lastUsedAt, null);
    await recorder.close();
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
