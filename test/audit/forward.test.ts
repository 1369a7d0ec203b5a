import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openAuditLog, readAuditRecords, CHECKPOINT_EVENT_INDEX } from '../../src/audit/index.js';
import { configSchema } from '../../src/config/index.js';
import { auditConfig, sampleRecord, tempDir } from './helpers/fixtures.js';

async function otlpServer(t: import('node:test').TestContext, failFirst: number) {
  const received: number[] = [];
  let requests = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      requests++;
      if (requests <= failFirst) return void res.writeHead(503).end();
      const parsed = JSON.parse(body) as { resourceLogs: { scopeLogs: { logRecords: { attributes: { key: string; value: { intValue?: string } }[] }[] }[] }[] };
      for (const r of parsed.resourceLogs[0]!.scopeLogs[0]!.logRecords) received.push(Number(r.attributes.find((a) => a.key === 'warden.audit.index')!.value.intValue));
      res.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/v1/logs`, received, requests: () => requests };
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('durable entries are forwarded live to OTLP and a JSON-lines file, in order, retrying an endpoint that is down', async (t) => {
  const dir = tempDir(t);
  const otlp = await otlpServer(t, 2);
  const file = join(dir, 'siem.jsonl');
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig({ forward: [{ type: 'otlp', url: otlp.url }, { type: 'jsonl', path: file }] }) });
  for (let i = 0; i < 60; i++) void log.append(sampleRecord(i));
  await log.flush();
  const entries = (): number[] => otlp.received.filter((i) => i !== CHECKPOINT_EVENT_INDEX); // signed checkpoints travel too
  await until(() => entries().length >= 60);
  assert.deepEqual(entries(), Array.from({ length: 60 }, (_, i) => i));
  assert.ok(otlp.requests() >= 3, 'the first two attempts failed and were retried');
  await log.close();
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { index: number });
  assert.deepEqual(lines.map((l) => l.index).filter((i) => i !== CHECKPOINT_EVENT_INDEX), Array.from({ length: 60 }, (_, i) => i));
});

test('a destination that stays down drops the oldest backlog beyond the limit and the log records how many', async (t) => {
  const dir = tempDir(t);
  const otlp = await otlpServer(t, Infinity);
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig({ forward: [{ type: 'otlp', url: otlp.url }], forwardQueueLimit: 100 }) });
  for (let i = 0; i < 250; i++) void log.append(sampleRecord(i));
  await log.flush();
  await log.append(sampleRecord(250)); // the next batch carries the drop report
  await log.close();
  const dropped = (await readAuditRecords(dir)).filter((r) => r.action === 'audit.forward.dropped');
  assert.ok(dropped.length >= 1);
  assert.ok(dropped.reduce((n, r) => n + Number((r.details as { dropped: number }).dropped), 0) >= 150);
  assert.equal((await readAuditRecords(dir)).filter((r) => r.kind === 'decision').length, 251, 'the log itself lost nothing');
});

test('forward config is validated with paths to the bad key', () => {
  assert.throws(() => configSchema.parse({ audit: { forward: [{ type: 'syslog', url: 'udp://x:514' }] } }), /url/);
  assert.throws(() => configSchema.parse({ audit: { forward: [{ type: 'kafka', url: 'x' }] } }));
  assert.throws(() => configSchema.parse({ audit: { origin: 'has space' } }), /origin/);
});
