// The CLI contract (DESIGN.md): a usage or input problem is exit 2 with ONE `WARDEN_…` line on
// stderr, never WARDEN_INTERNAL with a raw errno, never a second line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliInProcess } from '../helpers/cliInProcess.js';

function assertOneUsageLine(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  assert.equal(r.code, 2);
  assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
  assert.match(r.stderr.trimEnd(), new RegExp(`^WARDEN_USAGE: ${pattern.source}`));
}

test('an unknown command with a suggestion is one line', async () => {
  assertOneUsageLine(await cliInProcess(['statu'], {}), /unknown command 'statu' \(Did you mean status\?\)$/);
});

test('agent --join-token-file naming a missing file and --data-dir naming a regular file are usage errors', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-usage-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bundle = join(dir, 'bundle.pem');
  writeFileSync(bundle, '');
  const missing = join(dir, 'no-such-token');
  assertOneUsageLine(
    await cliInProcess(['--data-dir', dir, 'agent', '--server', 'https://127.0.0.1:1', '--ca-file', bundle, '--join-token-file', missing], {}),
    new RegExp(`cannot read --join-token-file ${missing} \\(ENOENT\\)$`),
  );
  assertOneUsageLine(await cliInProcess(['--data-dir', bundle, 'agent', '--ca-file', bundle], {}), /the data directory .* is not a directory/);
});
