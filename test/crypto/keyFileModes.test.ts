// A private key others can read may already have been copied: the file providers refuse it and
// name the chmod to run instead of loading it (or quietly fixing the mode).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileKeyProvider as CaKeyProvider } from '../../src/identity/KeyProvider.js';
import { FileKeyProvider as KekProvider } from '../../src/crypto/keyProvider/FileKeyProvider.js';
import { loadOrCreateBundleKey } from '../../src/policy/bundle.js';
import { loadOrCreateWardenSigningKey } from '../../src/artifacts/attestation/signers.js';
import { loadOrCreateCheckpointSigner, checkpointKeyPath } from '../../src/audit/checkpoint/checkpointKey.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-keymode-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const refusedWithChmod = (path: string) => (e: Error & { code?: string }) => e.code === 'WARDEN_FILE_UNSAFE' && e.message.endsWith(`run chmod 600 ${path}`);

test('a CA key file readable by others is refused with the chmod to run', async (t) => {
  const dir = tempDir(t);
  await new CaKeyProvider(dir).loadOrCreate('root-1', 'ES256');
  chmodSync(join(dir, 'root-1.key'), 0o644);
  await assert.rejects(new CaKeyProvider(dir).load('root-1', 'ES256'), refusedWithChmod(join(dir, 'root-1.key')));
  chmodSync(join(dir, 'root-1.key'), 0o600);
  await new CaKeyProvider(dir).load('root-1', 'ES256');
});

test('a key-encryption key readable by others is refused', async (t) => {
  const dir = join(tempDir(t), 'keys');
  const id = await new KekProvider(dir).rotate();
  chmodSync(join(dir, `kek-${id}.key`), 0o604);
  await assert.rejects(new KekProvider(dir).wrap(Buffer.alloc(32), 'ctx'), refusedWithChmod(join(dir, `kek-${id}.key`)));
});

test('the policy bundle key and the artifact signing key readable by group are refused', (t) => {
  const dataDir = tempDir(t);
  loadOrCreateBundleKey(dataDir);
  loadOrCreateWardenSigningKey(dataDir);
  chmodSync(join(dataDir, 'keys', 'policy-bundle.key'), 0o640);
  assert.throws(() => loadOrCreateBundleKey(dataDir), refusedWithChmod(join(dataDir, 'keys', 'policy-bundle.key')));
  const signing = join(dataDir, 'keys', 'artifact-signing.key');
  chmodSync(signing, 0o640);
  assert.throws(() => loadOrCreateWardenSigningKey(dataDir), refusedWithChmod(signing));
});

test('the audit checkpoint key readable by others is refused', (t) => {
  const dataDir = tempDir(t);
  loadOrCreateCheckpointSigner({ dataDir, origin: 'warden.test/audit' });
  const key = checkpointKeyPath(dataDir);
  chmodSync(key, 0o644);
  assert.throws(() => loadOrCreateCheckpointSigner({ dataDir, origin: 'warden.test/audit' }), refusedWithChmod(key));
  chmodSync(key, 0o600);
  loadOrCreateCheckpointSigner({ dataDir, origin: 'warden.test/audit' });
});
