// keys/server-secret is the HMAC key behind every API key and admin token: an empty, short or
// symlinked file is refused like a short WARDEN_SERVER_SECRET is, never used as the key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadServerSecret, requireServerSecret } from '../../src/server/serverSecret.js';

function dataDirWithSecret(t: { after(fn: () => void): void }, content: Buffer | null): { dataDir: string; file: string } {
  const dataDir = mkdtempSync(join(tmpdir(), 'warden-secret-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  mkdirSync(join(dataDir, 'keys'), { mode: 0o700 });
  const file = join(dataDir, 'keys', 'server-secret');
  if (content) writeFileSync(file, content, { mode: 0o600 });
  return { dataDir, file };
}

for (const [what, bytes] of [['empty', 0], ['short', 31]] as const) {
  test(`a keys/server-secret that is ${what} is refused by both loaders`, (t) => {
    const { dataDir } = dataDirWithSecret(t, Buffer.alloc(bytes, 1));
    for (const load of [loadServerSecret, requireServerSecret]) {
      assert.throws(() => load(dataDir, {}), (e: Error & { code?: string }) => e.code === 'WARDEN_CONFIG_INVALID' && e.message.includes(`holds ${bytes} bytes, fewer than 32`));
    }
  });
}

test('a symlinked keys/server-secret is refused by both loaders, even pointing at a good key', (t) => {
  const { dataDir, file } = dataDirWithSecret(t, null);
  const elsewhere = join(dataDir, 'elsewhere');
  writeFileSync(elsewhere, Buffer.alloc(32, 7), { mode: 0o600 });
  symlinkSync(elsewhere, file);
  for (const load of [loadServerSecret, requireServerSecret]) {
    assert.throws(() => load(dataDir, {}), (e: Error & { code?: string }) => e.code === 'WARDEN_FILE_UNSAFE' && /is a symlink/.test(e.message));
  }
});

test('a 32-byte keys/server-secret with mode 0600 is the key', (t) => {
  const { dataDir } = dataDirWithSecret(t, Buffer.alloc(32, 9));
  assert.deepEqual(requireServerSecret(dataDir, {}), Buffer.alloc(32, 9));
  assert.deepEqual(loadServerSecret(dataDir, {}), Buffer.alloc(32, 9));
});
