import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RemoteAuditWriter } from '../../src/gateway/index.js';
import { createLogger } from '../../src/observe/index.js';
import type { AuditRecord } from '../../src/audit/index.js';
import { freePort } from '../helpers/net.js';

const logger = createLogger({ level: 'silent' });
const rec = (i: number): AuditRecord => ({ ts: new Date().toISOString(), kind: 'decision', action: 'invoke', decision: 'allow', requestId: `r-${i}` });


test('records the control plane cannot take at shutdown are spooled (0600) and delivered first on the next start', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-spool-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const spoolDir = join(dir, 'audit-spool');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;

  // Control plane down: appends are accepted, close() spools them after its deadline.
  const down = new RemoteAuditWriter({ url, token: 't', pep: 'gw-1', logger, spoolDir, closeTimeoutMs: 300, flushIntervalMs: 10 });
  const leaked = `wdn_abcdefghijkl_${'C'.repeat(43)}`;
  const appended = Promise.all([1, 2, 3].map((i) => down.append(i === 2 ? { ...rec(i), details: { note: leaked } } : rec(i))));
  await down.close();
  await appended;
  const file = join(spoolDir, 'gw-1.spool.jsonl');
  assert.ok(existsSync(file), 'spool written');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(readFileSync(file, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as AuditRecord).requestId), ['r-1', 'r-2', 'r-3']);
  assert.ok(!readFileSync(file, 'utf8').includes(leaked), 'credentials are redacted before they touch the disk');

  // Control plane back: the next run ships the spool before anything else, then removes it.
  const received: { pep: string; records: AuditRecord[] }[] = [];
  const cp = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push(JSON.parse(body) as { pep: string; records: AuditRecord[] });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"accepted":1}');
    });
  });
  await new Promise<void>((r) => cp.listen(port, '127.0.0.1', () => r()));
  t.after(() => new Promise((r) => cp.close(r)));
  const up = new RemoteAuditWriter({ url, token: 't', pep: 'gw-1', logger, spoolDir, flushIntervalMs: 10 });
  assert.equal(await up.replaySpool(), 3);
  await up.append(rec(4));
  await up.close();
  const ids = received.flatMap((b) => b.records.map((r) => r.requestId));
  assert.deepEqual(ids, ['r-1', 'r-2', 'r-3', 'r-4']);
  assert.ok(received.every((b) => b.pep === 'gw-1'));
  assert.deepEqual(readdirSync(spoolDir), [], 'spool removed once delivered');
  assert.equal(await up.replaySpool(), 0, 'nothing left to replay');
});
