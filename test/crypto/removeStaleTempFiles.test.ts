// writeFileAtomic's temp files may hold private keys: a start removes those a crash left behind.
// A caCrashConsistency run failed once in a while: a temp file written in the same millisecond
// as the cleanup carried an mtime a fraction of a millisecond past Date.now() and was spared.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeStaleTempFiles } from '../../src/crypto/index.js';

test('without a grace period every temp file goes, whatever its mtime (even one just ahead of this clock); with one, files younger than it stay', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-stale-tmp-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const now = Date.now();
  const temp = (name: string, mtimeMs: number): string => {
    writeFileSync(join(dir, name), 'secret');
    utimesSync(join(dir, name), mtimeMs / 1000, mtimeMs / 1000);
    return name;
  };
  const ahead = temp('.root.key.0123456789ab.tmp', now + 0.5);
  const old = temp('.other.key.a1b2c3d4e5f6.tmp', now - 60_000);
  const foreign = temp('notes.tmp', now - 60_000);
  assert.deepEqual(removeStaleTempFiles(dir, 0, now).sort(), [ahead, old].sort());
  assert.ok(existsSync(join(dir, foreign)), 'not of writeFileAtomic\'s shape: kept');

  const fresh = temp('.fresh.key.0123456789ab.tmp', now - 100);
  const stale = temp('.stale.key.0123456789ab.tmp', now - 10_000);
  assert.deepEqual(removeStaleTempFiles(dir, 5_000, now), [stale], 'another process may still be writing the fresh one');
  assert.ok(existsSync(join(dir, fresh)));
});
