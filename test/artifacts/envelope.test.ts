import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync, statSync, readdirSync, openSync, writeSync, closeSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileKeyProvider, sealFile, openFile, rewrapDataKey } from '../../src/crypto/index.js';
import { ArtifactVault } from '../../src/artifacts/index.js';

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-envelope-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function data(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

test('seal/open round trip across chunk boundaries; KEK files are 0600', async (t) => {
  const dir = tmp(t);
  const keys = new FileKeyProvider(join(dir, 'keys'));
  for (const n of [0, 1, 4096, 4097, 3 * 4096]) {
    writeFileSync(join(dir, 'plain'), data(n));
    const rec = await sealFile(join(dir, 'plain'), join(dir, 'sealed'), keys, { context: `t${n}`, chunkBytes: 4096 });
    assert.equal(rec.size, n);
    if (n > 16) assert.equal(readFileSync(join(dir, 'sealed')).includes(data(n).subarray(0, 16)), false, 'ciphertext does not contain plaintext');
    await openFile(join(dir, 'sealed'), join(dir, 'out'), rec, keys);
    assert.deepEqual(readFileSync(join(dir, 'out')), data(n));
  }
  const [id] = await keys.listKeyIds();
  assert.equal(statSync(join(dir, 'keys', `kek-${id}.key`)).mode & 0o777, 0o600);
});

test('decrypt after key rotation works; a wrong key or modified data fails cleanly and writes nothing', async (t) => {
  const dir = tmp(t);
  const keys = new FileKeyProvider(join(dir, 'keys'));
  writeFileSync(join(dir, 'plain'), data(20_000));
  const rec = await sealFile(join(dir, 'plain'), join(dir, 'sealed'), keys, { context: 'blob-1', chunkBytes: 4096 });
  const sealedBefore = readFileSync(join(dir, 'sealed'));
  const oldKek = rec.wrappedKey.kekId;

  const newKek = await keys.rotate();
  assert.notEqual(newKek, oldKek);
  const rotated = await rewrapDataKey(rec, keys);
  assert.equal(rotated.wrappedKey.kekId, newKek);
  assert.deepEqual(readFileSync(join(dir, 'sealed')), sealedBefore, 'data is not re-encrypted');
  rmSync(join(dir, 'keys', `kek-${oldKek}.key`));
  await openFile(join(dir, 'sealed'), join(dir, 'out'), rotated, new FileKeyProvider(join(dir, 'keys')));
  assert.deepEqual(readFileSync(join(dir, 'out')), data(20_000));
  rmSync(join(dir, 'out'));

  // Old record after its KEK was deleted: clean error naming the missing key.
  await assert.rejects(openFile(join(dir, 'sealed'), join(dir, 'out'), rec, new FileKeyProvider(join(dir, 'keys'))), { code: 'WARDEN_KEYPROVIDER_KEY_NOT_FOUND' });
  // A different provider whose KEK has the same id but other bytes: unwrap fails.
  const other = new FileKeyProvider(join(dir, 'other'));
  await other.rotate();
  writeFileSync(join(dir, 'other', `kek-${newKek}.key`), Buffer.alloc(32, 9), { mode: 0o600 });
  await assert.rejects(openFile(join(dir, 'sealed'), join(dir, 'out'), rotated, other), { code: 'WARDEN_KEYPROVIDER_UNWRAP_FAILED' });
  // Wrapped key bound to its context: reusing it for another blob fails.
  await assert.rejects(openFile(join(dir, 'sealed'), join(dir, 'out'), { ...rotated, context: 'blob-2' }, keys), { code: 'WARDEN_KEYPROVIDER_UNWRAP_FAILED' });
  // One flipped ciphertext bit.
  const fd = openSync(join(dir, 'sealed'), 'r+');
  writeSync(fd, Buffer.from([sealedBefore[5000]! ^ 1]), 0, 1, 5000);
  closeSync(fd);
  await assert.rejects(openFile(join(dir, 'sealed'), join(dir, 'out'), rotated, keys), { code: 'WARDEN_ENVELOPE_DECRYPT_FAILED' });
  // Truncation to a chunk boundary is caught by the last-chunk flag.
  writeFileSync(join(dir, 'sealed'), sealedBefore);
  truncateSync(join(dir, 'sealed'), 16 + 2 * (4096 + 16));
  await assert.rejects(openFile(join(dir, 'sealed'), join(dir, 'out'), rotated, keys), { code: 'WARDEN_ENVELOPE_DECRYPT_FAILED' });
  assert.equal(existsSync(join(dir, 'out')), false, 'nothing half-written');
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
  await assert.rejects(openFile(join(dir, 'plain'), join(dir, 'out'), rotated, keys), { code: 'WARDEN_ENVELOPE_INVALID' });
});

test('the vault refuses plaintext when encryption is required, and rotation re-wraps every stored key', async (t) => {
  const dir = tmp(t);
  const keys = new FileKeyProvider(join(dir, 'keys'));
  writeFileSync(join(dir, 'model.bin'), data(10_000));
  writeFileSync(join(dir, 'data.csv'), 'a,b\n1,2\n');
  const strict = new ArtifactVault(join(dir, 'blobs'), keys, { encryptionRequired: true, chunkBytes: 4096 });
  await assert.rejects(strict.store(join(dir, 'model.bin'), { encrypt: false }), { code: 'WARDEN_ARTIFACT_ENCRYPTION_REQUIRED' });
  assert.equal(existsSync(join(dir, 'blobs')), false, 'nothing stored');
  const a = await strict.store(join(dir, 'model.bin'), { encrypt: true });
  const b = await strict.store(join(dir, 'data.csv'), { encrypt: true });
  assert.equal(a.encrypted, true);
  const sealed = readFileSync(join(dir, 'blobs', `${a.id}.wenc`));
  const { kekId, rewrapped } = await strict.rotateKeys();
  assert.equal(rewrapped, 2);
  assert.notEqual(kekId, a.kekId);
  assert.deepEqual(readFileSync(join(dir, 'blobs', `${a.id}.wenc`)), sealed);
  assert.equal(JSON.parse(readFileSync(join(dir, 'blobs', `${b.id}.key.json`), 'utf8')).wrappedKey.kekId, kekId);
  await strict.retrieve(a.id, join(dir, 'back.bin'));
  assert.deepEqual(readFileSync(join(dir, 'back.bin')), data(10_000));
  const lax = new ArtifactVault(join(dir, 'blobs'), keys, { encryptionRequired: false });
  const plain = await lax.store(join(dir, 'data.csv'), { encrypt: false });
  assert.equal(plain.encrypted, false);
  await assert.rejects(lax.retrieve('0'.repeat(64), join(dir, 'x')), { code: 'WARDEN_ARTIFACT_NOT_FOUND' });
});
