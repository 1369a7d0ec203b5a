// Warden's data directory holds keys and the audit log: a directory someone else owns or can
// write, a symlink planted inside it, or a key file others can read is refused, never followed
// or silently fixed (found by a review: `up` on a planted audit/checkpoints.jsonl symlink
// truncated a root-owned file outside the data directory).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertDataDir, ensureDataDir, ensurePrivateDir, readOrCreateSecretFile, readSecretFile } from '../../src/crypto/index.js';
import { FileAuditStore } from '../../src/audit/storage/FileAuditStore.js';
import { cliInProcess } from '../helpers/cliInProcess.js';

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-private-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function assertRefused(fn: () => unknown, pattern: RegExp, code = 'WARDEN_FILE_UNSAFE'): void {
  assert.throws(fn, (e: Error & { code?: string }) => e.code === code && pattern.test(e.message) && !e.message.includes('\n'));
}

test('a data directory another user owns, or that group or others can write, is refused with the fix to run', { skip: !asRoot && 'needs root to chown' }, (t) => {
  const root = tempDir(t);
  const foreign = join(root, 'foreign');
  mkdirSync(foreign, { mode: 0o700 });
  chownSync(foreign, NOBODY, NOBODY);
  assertRefused(() => assertDataDir(foreign), new RegExp(`${foreign} is owned by uid ${NOBODY}.*chown`));
  const open = join(root, 'open');
  mkdirSync(open);
  chmodSync(open, 0o777);
  assertRefused(() => ensureDataDir(open), new RegExp(`chmod go-w ${open}$`));
  const ok = join(root, 'ok');
  mkdirSync(ok, { mode: 0o755 });
  assert.doesNotThrow(() => ensureDataDir(ok), 'readable by others but writable only by its owner: fine');
});

test('the data directory root may be a symlink to a good directory; a symlinked keys/, ca/ or audit/ is refused', (t) => {
  const root = tempDir(t);
  const real = join(root, 'real');
  mkdirSync(real, { mode: 0o700 });
  symlinkSync(real, join(root, 'link'));
  assert.doesNotThrow(() => ensureDataDir(join(root, 'link')));
  for (const sub of ['keys', 'ca', 'audit']) {
    const elsewhere = join(root, `elsewhere-${sub}`);
    mkdirSync(elsewhere, { mode: 0o700 });
    symlinkSync(elsewhere, join(real, sub));
    assertRefused(() => assertDataDir(join(root, 'link')), new RegExp(`${join(root, 'link', sub)} is a symlink`));
    rmSync(join(real, sub));
  }
  mkdirSync(join(real, 'keys'), { mode: 0o700 });
  chmodSync(join(real, 'keys'), 0o770);
  assertRefused(() => ensurePrivateDir(join(real, 'keys')), /writable by group or others: run chmod go-w/);
});

test('a data directory that is a regular file is a usage error, not an internal one', async (t) => {
  const file = join(tempDir(t), 'afile');
  writeFileSync(file, 'x');
  assertRefused(() => ensureDataDir(file), /is not a directory: pass --data-dir/, 'WARDEN_USAGE');
  const r = await cliInProcess(['--data-dir', file, 'audit', 'verify'], {});
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^WARDEN_USAGE: the data directory .* is not a directory/);
});

test('a secret file is read only when it is a regular file of ours with mode 0600 (or stricter)', (t) => {
  const dir = tempDir(t);
  const key = join(dir, 'server-secret');
  writeFileSync(key, 'k'.repeat(32), { mode: 0o600 });
  assert.equal(readSecretFile(key).length, 32);
  chmodSync(key, 0o640);
  assertRefused(() => readSecretFile(key), new RegExp(`mode 0640\\): run chmod 600 ${key}$`));
  assertRefused(() => readOrCreateSecretFile(key, () => Buffer.alloc(32)), /chmod 600/);
  chmodSync(key, 0o600);
  const link = join(dir, 'link');
  symlinkSync(key, link);
  assertRefused(() => readSecretFile(link), /is a symlink/);
  // A dangling link is not "missing": nothing is created at (or through) it.
  const dangling = join(dir, 'dangling');
  symlinkSync(join(dir, 'nowhere'), dangling);
  assertRefused(() => readOrCreateSecretFile(dangling, () => Buffer.alloc(32)), /is a symlink/);
  assert.equal(existsSync(join(dir, 'nowhere')), false);
});

test('a secret file another user owns is refused', { skip: !asRoot && 'needs root to chown' }, (t) => {
  const key = join(tempDir(t), 'k.key');
  writeFileSync(key, 'secret', { mode: 0o600 });
  chownSync(key, NOBODY, NOBODY);
  assertRefused(() => readSecretFile(key), /is owned by uid 65534/);
});

test('the audit store never opens its files through a symlink: the target is neither truncated nor created', async (t) => {
  const root = tempDir(t);
  const dataDir = join(root, 'wd');
  mkdirSync(join(dataDir, 'audit', 'segments'), { recursive: true, mode: 0o700 });
  const victim = join(root, 'victim.txt');
  writeFileSync(victim, 'line1\nlast line without newline');
  symlinkSync(victim, join(dataDir, 'audit', 'checkpoints.jsonl'));
  const planted = join(root, 'created-by-warden.log');
  symlinkSync(planted, join(dataDir, 'audit', 'segments', '00000000000000000000.log'));
  await assert.rejects(FileAuditStore.open(dataDir, { segmentMaxBytes: 1 << 20, fsync: false }));
  assert.equal(existsSync(planted), false, 'a dangling segment link must not create its target');
  rmSync(join(dataDir, 'audit', 'segments', '00000000000000000000.log'));
  rmSync(join(dataDir, 'audit', 'LOCK'), { force: true });
  await assert.rejects(FileAuditStore.open(dataDir, { segmentMaxBytes: 1 << 20, fsync: false }));
  assert.equal(readFileSync(victim, 'utf8'), 'line1\nlast line without newline');
});

test('`warden up` on a data directory another user controls refuses before touching anything in it', { skip: !asRoot && 'needs root to chown' }, async (t) => {
  const root = tempDir(t);
  const dataDir = join(root, 'wd');
  mkdirSync(join(dataDir, 'audit'), { recursive: true });
  const victim = join(root, 'victim.txt');
  writeFileSync(victim, 'line1\nlast line without newline');
  symlinkSync(victim, join(dataDir, 'audit', 'checkpoints.jsonl'));
  chownSync(join(dataDir, 'audit'), NOBODY, NOBODY);
  chownSync(dataDir, NOBODY, NOBODY);
  const r = await cliInProcess(['--data-dir', dataDir, 'up', '--port-gateway', '0', '--port-admin', '0'], {});
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`^WARDEN_FILE_UNSAFE: ${dataDir} is owned by uid ${NOBODY}`));
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.equal(readFileSync(victim, 'utf8'), 'line1\nlast line without newline');
});
