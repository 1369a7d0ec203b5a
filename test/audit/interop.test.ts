import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openAuditLog, fileAuditLayout } from '../../src/audit/index.js';
import { requireOrSkip } from '../helpers/ci.js';
import { auditConfig, sampleRecord, tempDir } from './helpers/fixtures.js';

const script = fileURLToPath(new URL('./fixtures/independent_verify.py', import.meta.url));
const pythonOk = spawnSync('python3', ['-c', 'import cryptography'], { stdio: 'ignore' }).status === 0;

test('an independent Python peer verifies the signed checkpoint, the recomputed root and a proof', async (t) => {
  if (!requireOrSkip(t, pythonOk, 'python3 with cryptography (Debian: python3-cryptography)')) return;
  const dir = tempDir(t);
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig() });
  await Promise.all(Array.from({ length: 77 }, (_, i) => log.append(sampleRecord(i, { details: { note: `ünïcode ${i} \u2028` } }))));
  const proof = await log.prove(41);
  const vkey = log.verifierKey;
  await log.close();
  const seg = fileAuditLayout(dir).segments;
  const input = { vkey, note: proof.checkpoint.note, segment: join(seg, readdirSync(seg)[0]!), index: 41, proof: proof.proof };
  const r = spawnSync('python3', [script], { input: JSON.stringify(input), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'ok 77');
  // The peer really checks: a wrong proof fails there too.
  const bad = spawnSync('python3', [script], { input: JSON.stringify({ ...input, index: 40 }), encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /inclusion proof does not verify/);
});
