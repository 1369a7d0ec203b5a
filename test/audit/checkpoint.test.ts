import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createNoteSigner,
  ed25519PrivateKeyFromSeed,
  parseVerifierKey,
  signNote,
  openNote,
  signCheckpoint,
  openCheckpoint,
  parseCheckpoint,
  formatCheckpoint,
  loadOrCreateCheckpointSigner,
  readVerifierKeys,
  checkpointKeyPath,
} from '../../src/audit/checkpoint/index.js';

// The example key and note published with the signed-note spec (golang.org/x/mod/sumdb/note).
const SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const NOTE = TEXT + '\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';

function specSigner() {
  const seed = Buffer.from(SKEY.split('+').slice(4).join('+'), 'base64').subarray(1);
  return createNoteSigner('PeterNeumann', ed25519PrivateKeyFromSeed(seed));
}

test('signer derives the published verifier key and signs the published note byte for byte', () => {
  const signer = specSigner();
  assert.equal(signer.verifierKey, VKEY);
  assert.equal(signNote(TEXT, signer), NOTE);
});

test('the published note opens with the published verifier key', () => {
  const opened = openNote(NOTE, [parseVerifierKey(VKEY)]);
  assert.equal(opened.text, TEXT);
  assert.equal(opened.verified[0]!.name, 'PeterNeumann');
});

test('altered text, unknown keys and malformed notes are rejected with stable codes', () => {
  const v = [parseVerifierKey(VKEY)];
  assert.throws(() => openNote(NOTE.replace('cryptography', 'cryptographY'), v), { code: 'WARDEN_AUDIT_CHECKPOINT_INVALID' });
  const other = createNoteSigner('Other', ed25519PrivateKeyFromSeed(Buffer.alloc(32, 7)));
  assert.throws(() => openNote(signNote(TEXT, other), v), { code: 'WARDEN_AUDIT_CHECKPOINT_INVALID' });
  assert.throws(() => openNote(TEXT, v), { code: 'WARDEN_AUDIT_NOTE_INVALID' });
  assert.throws(() => openNote(TEXT + '\n- PeterNeumann abc=\n', v), { code: 'WARDEN_AUDIT_NOTE_INVALID' });
  assert.throws(() => parseVerifierKey('PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'), { code: 'WARDEN_AUDIT_NOTE_INVALID' });
  assert.throws(() => parseVerifierKey('nonsense'), { code: 'WARDEN_AUDIT_NOTE_INVALID' });
  // A note carrying both an unknown signature and a valid one still opens.
  const both = NOTE + signNote(TEXT, other).slice(TEXT.length + 1);
  assert.equal(openNote(both, v).verified.length, 1);
});

test('checkpoints round-trip in the tlog-checkpoint format and check their origin', () => {
  const signer = specSigner();
  const root = Buffer.alloc(32, 0xab);
  const text = formatCheckpoint({ origin: 'example.com/log', size: 42, rootHash: root });
  assert.equal(text, `example.com/log\n42\n${root.toString('base64')}\n`);
  const signed = signCheckpoint({ origin: 'example.com/log', size: 42, rootHash: root }, signer);
  const opened = openCheckpoint(signed.note, [parseVerifierKey(VKEY)], 'example.com/log');
  assert.equal(opened.size, 42);
  assert.ok(opened.rootHash.equals(root));
  assert.throws(() => openCheckpoint(signed.note, [parseVerifierKey(VKEY)], 'other/log'), { code: 'WARDEN_AUDIT_CHECKPOINT_INVALID' });
  assert.throws(() => parseCheckpoint('o\n01\nAAAA\n'), { code: 'WARDEN_AUDIT_CHECKPOINT_INVALID' });
  assert.throws(() => parseCheckpoint('o\n1\nAAAA\n'), { code: 'WARDEN_AUDIT_CHECKPOINT_INVALID' });
  // Extension lines after the root are allowed by the spec.
  assert.equal(parseCheckpoint(text + 'ext line\n').size, 42);
});

test('the checkpoint key is created 0600 once and its verifier key is published', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-audit-key-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const a = loadOrCreateCheckpointSigner({ dataDir: dir, origin: 'warden.test/audit' });
  const b = loadOrCreateCheckpointSigner({ dataDir: dir, origin: 'warden.test/audit' });
  assert.equal(a.verifierKey, b.verifierKey);
  assert.equal(statSync(checkpointKeyPath(dir)).mode & 0o777, 0o600);
  assert.match(readFileSync(checkpointKeyPath(dir), 'utf8'), /BEGIN PRIVATE KEY/);
  const [v] = readVerifierKeys({ dataDir: dir });
  assert.equal(v!.keyHash, a.keyHash);
});
