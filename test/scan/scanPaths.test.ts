import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isWardenError } from '../../src/errors/index.js';
import { scanPaths, worstSeverity } from '../../src/scan/index.js';
import { P } from './helpers/scanBytes.js';

describe('scanPaths', () => {
  let dir = '';
  const evil = P.cat(P.proto(2), P.global('os', 'system'), P.binunicode('id'), P.op(0x85, 'R', '.'));
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'warden-scan-paths-'));
    mkdirSync(join(dir, 'model', 'sub'), { recursive: true });
    mkdirSync(join(dir, 'elsewhere'));
    writeFileSync(join(dir, 'model', 'b.pkl'), evil);
    writeFileSync(join(dir, 'model', 'sub', 'a.pkl'), P.cat(P.proto(2), P.op('}', '.')));
    writeFileSync(join(dir, 'elsewhere', 'hidden.pkl'), evil);
    symlinkSync(join(dir, 'elsewhere'), join(dir, 'model', 'linkdir'));
    symlinkSync(join(dir, 'elsewhere', 'hidden.pkl'), join(dir, 'model', 'linkfile.pkl'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('walks directories in a stable order, follows file symlinks, reports directory symlinks high instead of following them', async () => {
    const r = await scanPaths([join(dir, 'model')]);
    assert.deepEqual(r.files.map((f) => f.path.slice(dir.length + 1)), ['model/b.pkl', 'model/linkdir', 'model/linkfile.pkl', 'model/sub/a.pkl']);
    assert.equal(r.files[0]!.sha256, createHash('sha256').update(evil).digest('hex'));
    assert.equal(worstSeverity(r), 'critical');
    assert.deepEqual(r.summary.bySeverity, { critical: 2, high: 1, medium: 0, low: 0, info: 0 });
    assert.deepEqual(r.files[1]!.findings.map((f) => `${f.severity} ${f.rule}`), ['high scan/directory-not-scanned']);
  });

  it('fails fast with stable codes before scanning anything', async () => {
    await assert.rejects(scanPaths([join(dir, 'model'), join(dir, 'missing')]), (e: unknown) => isWardenError(e) && e.code === 'WARDEN_SCAN_PATH_NOT_FOUND' && e.status === 404);
    await assert.rejects(scanPaths([]), (e: unknown) => isWardenError(e) && e.code === 'WARDEN_SCAN_NO_PATHS');
  });

  it('reports a clean file with no findings and worstSeverity null', async () => {
    const r = await scanPaths([join(dir, 'model', 'sub', 'a.pkl')], { hash: false });
    assert.equal(r.files[0]!.sha256, null);
    assert.equal(worstSeverity(r), null);
  });
});
