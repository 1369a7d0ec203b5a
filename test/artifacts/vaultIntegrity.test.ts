import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync, copyFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileKeyProvider, sealFile, openFile } from '../../src/crypto/index.js';
import { ArtifactVault } from '../../src/artifacts/index.js';

// A vault blob comes out only if its bytes have the digest it was asked for, whatever was done to the blob directory.
function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-vault-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function setup(t: { after(fn: () => void): void }) {
  const dir = tmp(t);
  const keys = new FileKeyProvider(join(dir, 'keys'));
  const blobs = join(dir, 'blobs');
  writeFileSync(join(dir, 'ds.csv'), 'label,text\n1,honest row\n0,another honest row\n');
  writeFileSync(join(dir, 'bad.csv'), 'label,text\n1,poisoned row\n');
  return { dir, keys, blobs, strict: new ArtifactVault(blobs, keys, { encryptionRequired: true, chunkBytes: 16 }), lax: new ArtifactVault(blobs, keys, { encryptionRequired: false }) };
}

test('with encryption required, a deleted .wenc does not fall back to a planted plaintext .blob', async (t) => {
  const { dir, blobs, strict } = setup(t);
  const good = await strict.store(join(dir, 'ds.csv'), { encrypt: true });
  rmSync(join(blobs, `${good.id}.wenc`));
  writeFileSync(join(blobs, `${good.id}.blob`), 'label,text\n1,attacker row\n');
  await assert.rejects(strict.retrieve(good.id, join(dir, 'out.csv')), { code: 'WARDEN_ARTIFACT_ENCRYPTION_REQUIRED' });
  assert.equal(existsSync(join(dir, 'out.csv')), false);
  // Even the honest plaintext is refused: policy says blobs come out of the envelope.
  copyFileSync(join(dir, 'ds.csv'), join(blobs, `${good.id}.blob`));
  await assert.rejects(strict.retrieve(good.id, join(dir, 'out.csv')), { code: 'WARDEN_ARTIFACT_ENCRYPTION_REQUIRED' });
});

test('a plaintext blob is checked against its id; a rewritten one writes nothing', async (t) => {
  const { dir, blobs, lax } = setup(t);
  const good = await lax.store(join(dir, 'ds.csv'), { encrypt: false });
  assert.equal(good.id, sha256(readFileSync(join(dir, 'ds.csv'))));
  await lax.retrieve(good.id, join(dir, 'back.csv'));
  assert.deepEqual(readFileSync(join(dir, 'back.csv')), readFileSync(join(dir, 'ds.csv')));
  writeFileSync(join(blobs, `${good.id}.blob`), 'label,text\n1,attacker row\n');
  await assert.rejects(lax.retrieve(good.id, join(dir, 'out.csv')), { code: 'WARDEN_ARTIFACT_DIGEST_MISMATCH' });
  assert.equal(existsSync(join(dir, 'out.csv')), false);
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
});

test('another blob\'s .wenc + .key.json swapped onto an id is refused', async (t) => {
  const { dir, blobs, strict } = setup(t);
  const good = await strict.store(join(dir, 'ds.csv'), { encrypt: true });
  const bad = await strict.store(join(dir, 'bad.csv'), { encrypt: true });
  const record = JSON.parse(readFileSync(join(blobs, `${good.id}.key.json`), 'utf8'));
  assert.equal(record.context, `blob:${good.id}`, 'new blobs bind their id into the envelope');
  copyFileSync(join(blobs, `${bad.id}.wenc`), join(blobs, `${good.id}.wenc`));
  copyFileSync(join(blobs, `${bad.id}.key.json`), join(blobs, `${good.id}.key.json`));
  await assert.rejects(strict.retrieve(good.id, join(dir, 'out.csv')), { code: 'WARDEN_ENVELOPE_INVALID' });
  // The swapped record relabelled with the requested digest: bound to the other blob's context.
  const relabelled = JSON.parse(readFileSync(join(blobs, `${bad.id}.key.json`), 'utf8'));
  writeFileSync(join(blobs, `${good.id}.key.json`), JSON.stringify({ ...relabelled, sha256: good.id }));
  await assert.rejects(strict.retrieve(good.id, join(dir, 'out.csv')), { code: 'WARDEN_ENVELOPE_INVALID' });
  // ... and with the context relabelled too, the wrapped key no longer unwraps.
  writeFileSync(join(blobs, `${good.id}.key.json`), JSON.stringify({ ...relabelled, sha256: good.id, context: `blob:${good.id}` }));
  await assert.rejects(strict.retrieve(good.id, join(dir, 'out.csv')), { code: 'WARDEN_KEYPROVIDER_UNWRAP_FAILED' });
  assert.equal(existsSync(join(dir, 'out.csv')), false);
  await strict.retrieve(bad.id, join(dir, 'bad-back.csv'));
  assert.deepEqual(readFileSync(join(dir, 'bad-back.csv')), readFileSync(join(dir, 'bad.csv')));
});

test('blobs sealed before the context carried the id (random blob context) still open, and stay bound to their digest', async (t) => {
  const { dir, keys, blobs, strict } = setup(t);
  await strict.store(join(dir, 'bad.csv'), { encrypt: true }); // creates the directory the old code used
  const id = sha256(readFileSync(join(dir, 'ds.csv')));
  const record = await sealFile(join(dir, 'ds.csv'), join(blobs, `${id}.wenc`), keys, { context: `blob:${randomBytes(16).toString('hex')}`, chunkBytes: 16 });
  writeFileSync(join(blobs, `${id}.key.json`), JSON.stringify(record));
  await strict.retrieve(id, join(dir, 'legacy.csv'));
  assert.deepEqual(readFileSync(join(dir, 'legacy.csv')), readFileSync(join(dir, 'ds.csv')));
  // Rotation keeps them readable.
  await strict.rotateKeys();
  rmSync(join(dir, 'legacy.csv'));
  await strict.retrieve(id, join(dir, 'legacy.csv'));
  // A legacy-format blob of other content swapped onto the id: only its recorded digest gives it away.
  const badId = sha256(readFileSync(join(dir, 'bad.csv')));
  const badRecord = await sealFile(join(dir, 'bad.csv'), join(dir, 'bad.wenc'), keys, { context: `blob:${randomBytes(16).toString('hex')}`, chunkBytes: 16 });
  assert.equal(badRecord.sha256, badId);
  copyFileSync(join(dir, 'bad.wenc'), join(blobs, `${id}.wenc`));
  writeFileSync(join(blobs, `${id}.key.json`), JSON.stringify(badRecord));
  rmSync(join(dir, 'legacy.csv'));
  await assert.rejects(strict.retrieve(id, join(dir, 'legacy.csv')), { code: 'WARDEN_ENVELOPE_INVALID' });
  assert.equal(existsSync(join(dir, 'legacy.csv')), false);
  // openFile itself refuses a record of other content than the digest asked for.
  await assert.rejects(openFile(join(blobs, `${id}.wenc`), join(dir, 'x'), record, keys, { expectedSha256: 'f'.repeat(64) }), { code: 'WARDEN_ENVELOPE_INVALID' });
  assert.equal(existsSync(join(dir, 'x')), false);
});
