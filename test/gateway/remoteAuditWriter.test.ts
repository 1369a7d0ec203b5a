import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { RemoteAuditWriter } from '../../src/gateway/index.js';
import { Registry } from 'prom-client';
import { createGatewayMetrics, createLogger, observeAudit } from '../../src/observe/index.js';
import type { AuditRecord } from '../../src/audit/index.js';
import { freePort } from '../helpers/net.js';

const logger = createLogger({ level: 'silent' });
const rec = (i: number): AuditRecord => ({ ts: new Date().toISOString(), kind: 'decision', action: 'invoke', decision: 'allow', requestId: `r-${i}` });
/** Fast retries so a test never sleeps long. */
const fast = { flushIntervalMs: 10, retryBaseMs: 20, retryMaxMs: 60 } as const;

interface Batch {
  id: string | undefined;
  pep: string;
  records: AuditRecord[];
}

/**
 * A stand-in control plane on a real loopback port. `answer` decides each reply (default 200);
 * it may leave the request hanging. Stores the batches it answered 2xx, and counts attempts.
 */
async function stubControlPlane(
  t: TestContext,
  options: { port?: number; answer?: (attempt: number, req: IncomingMessage, res: ServerResponse) => number | null; delayMs?: number } = {},
) {
  const stored: Batch[] = [];
  const attempts: Batch[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const server = createServer((req, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const parsed = JSON.parse(body) as { pep: string; records: AuditRecord[] };
      const batch = { id: req.headers['idempotency-key'] as string | undefined, ...parsed };
      attempts.push(batch);
      const status = options.answer ? options.answer(attempts.length, req, res) : 200;
      if (status === null) return; // never answered
      setTimeout(() => {
        inFlight--;
        if (status >= 200 && status < 300) stored.push(batch);
        const reply = status < 300 ? { accepted: parsed.records.length } : { error: { code: status === 400 ? 'WARDEN_INPUT_INVALID' : 'WARDEN_AUTHN_REQUIRED', message: 'no' } };
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
      }, options.delayMs ?? 0);
    });
  });
  const port = options.port ?? 0;
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  const actual = (server.address() as { port: number }).port;
  const close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  t.after(close);
  return { url: `http://127.0.0.1:${actual}`, stored, attempts, maxInFlight: () => maxInFlight, ids: () => stored.flatMap((b) => b.records.map((r) => r.requestId)), close };
}

function tempSpool(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-spool-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'audit-spool');
}

const spoolFiles = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith('.spool.jsonl')).sort() : []);
const spooledIds = (dir: string) =>
  spoolFiles(dir).flatMap((n) =>
    readFileSync(join(dir, n), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { record: AuditRecord }).record.requestId),
  );

/** A logger whose lines the test can read. */
function capturingLogger() {
  const lines: string[] = [];
  return { logger: pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) }), text: () => lines.join('') };
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('records the control plane cannot take are spooled (0600, credentials redacted) and delivered first on the next start', async (t) => {
  const spoolDir = tempSpool(t);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;

  // Control plane down: the failed send spools the records.
  const down = new RemoteAuditWriter({ url, token: 't', pep: 'gw-1', logger, spoolDir, closeTimeoutMs: 300, ...fast });
  const leaked = `wdn_abcdefghijkl_${'C'.repeat(43)}`;
  const appended = Promise.all([1, 2, 3].map((i) => down.append(i === 2 ? { ...rec(i), details: { note: leaked } } : rec(i))));
  await down.close();
  await appended;
  const [file] = spoolFiles(spoolDir);
  assert.ok(file, 'spool written');
  assert.equal(statSync(join(spoolDir, file)).mode & 0o777, 0o600);
  assert.deepEqual(spooledIds(spoolDir), ['r-1', 'r-2', 'r-3']);
  assert.ok(!readFileSync(join(spoolDir, file), 'utf8').includes(leaked), 'credentials are redacted before they touch the disk');

  // Control plane back: the next run ships the spool before anything else, then removes it.
  const cp = await stubControlPlane(t, { port });
  const up = new RemoteAuditWriter({ url, token: 't', pep: 'gw-1', logger, spoolDir, ...fast });
  assert.equal(await up.replaySpool(), 3);
  await up.append(rec(4));
  await up.close();
  assert.deepEqual(cp.ids(), ['r-1', 'r-2', 'r-3', 'r-4']);
  assert.ok(cp.stored.every((b) => b.pep === 'gw-1' && typeof b.id === 'string'));
  assert.deepEqual(spoolFiles(spoolDir), [], 'spool removed once delivered');
  assert.equal(await up.replaySpool(), 0, 'nothing left to replay');
});

test('a record is durable once append resolves: spooled as soon as a send fails, so a crash (SIGKILL) loses nothing', async (t) => {
  const spoolDir = tempSpool(t);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'remoteAuditCrashChild.ts'), url, spoolDir, '5'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const nextLine = async (ms: number): Promise<string> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((r) => (timer = setTimeout(() => r('(timed out)'), ms)));
    const exited = new Promise<string>((r) => child.once('exit', (code, signal) => r(`(exited ${code ?? signal})`)));
    try {
      return await Promise.race([lines.next().then((l) => (l.done ? '(end of output)' : l.value)), timeout, exited]);
    } finally {
      clearTimeout(timer);
    }
  };
  // Loading the child is not what is measured: on a cold tsx cache and two busy cores it takes
  // seconds. The durability deadline starts once it runs.
  assert.equal(await nextLine(120_000), 'ready');
  assert.equal(await nextLine(8000), 'durable', 'every append resolved while the control plane was down (spooled, not parked in memory)');
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));

  const cp = await stubControlPlane(t, { port });
  const next = new RemoteAuditWriter({ url, token: 't', pep: 'gw-crash', logger, spoolDir, ...fast });
  assert.equal(await next.replaySpool(), 5);
  await next.close();
  assert.deepEqual(cp.ids(), ['c-0', 'c-1', 'c-2', 'c-3', 'c-4']);
  assert.deepEqual(spoolFiles(spoolDir), []);
});

test('one POST in flight at a time, batches in append order, even with concurrent flush() calls', async (t) => {
  const cp = await stubControlPlane(t, { delayMs: 15 });
  const writer = new RemoteAuditWriter({ url: cp.url, token: 't', pep: 'gw-1', logger, batchSize: 4, ...fast });
  const appends: Promise<void>[] = [];
  const flushes: Promise<void>[] = [];
  for (let i = 0; i < 40; i++) {
    appends.push(writer.append(rec(i)));
    if (i % 3 === 0) flushes.push(writer.flush());
  }
  await Promise.all([...appends, ...flushes]);
  await writer.close();
  assert.equal(cp.maxInFlight(), 1, 'never two batches in flight');
  assert.deepEqual(cp.ids(), Array.from({ length: 40 }, (_, i) => `r-${i}`));
  assert.equal(new Set(cp.stored.map((b) => b.id)).size, cp.stored.length, 'every batch has its own id');
});

test('a control plane that never answers: the POST times out, records are spooled, and close(1000) ends in time with nothing lost', async (t) => {
  const spoolDir = tempSpool(t);
  const cp = await stubControlPlane(t, { answer: () => null });
  // Per-request timeout: with close() never called, the hung POST still ends and the records are spooled.
  const w1 = new RemoteAuditWriter({ url: cp.url, token: 't', pep: 'gw-1', logger, spoolDir, headersTimeoutMs: 300, ...fast });
  t.after(() => w1.close(100));
  const spooled = await Promise.race([Promise.all([1, 2].map((i) => w1.append(rec(i)))).then(() => true), new Promise((r) => setTimeout(() => r(false), 3000))]);
  assert.ok(spooled, 'appends resolved (spooled) after the request timeout');
  assert.deepEqual(spooledIds(spoolDir), ['r-1', 'r-2']);
  await w1.close(200);

  // Close deadline: the in-flight POST (default timeouts, far longer) is aborted at the deadline.
  const spool2 = tempSpool(t);
  const w2 = new RemoteAuditWriter({ url: cp.url, token: 't', pep: 'gw-2', logger, spoolDir: spool2, ...fast });
  const appended = Promise.all([3, 4, 5].map((i) => w2.append(rec(i))));
  await waitFor(() => cp.attempts.some((b) => b.pep === 'gw-2'));
  const closing = Date.now();
  await w2.close(1000);
  await appended;
  assert.ok(Date.now() - closing < 2000, `close took ${Date.now() - closing} ms`);
  assert.deepEqual(spooledIds(spool2), ['r-3', 'r-4', 'r-5']);
  await assert.rejects(w2.append(rec(6)), { code: 'WARDEN_AUDIT_CLOSED' });
});

test('401 (and 5xx) are retried until delivered and logged as an authentication problem, without the token', async (t) => {
  const token = `wdp_${'S'.repeat(40)}`;
  const statuses = [401, 403, 503, 200];
  const cp = await stubControlPlane(t, { answer: (n) => statuses[n - 1] ?? 200 });
  const logs = capturingLogger();
  const writer = new RemoteAuditWriter({ url: cp.url, token, pep: 'gw-1', logger: logs.logger, ...fast });
  await writer.append(rec(1));
  await writer.close();
  assert.deepEqual(cp.ids(), ['r-1'], 'delivered after the refusals, once');
  assert.equal(new Set(cp.attempts.map((b) => b.id)).size, 1, 'the same batch id on every retry');
  assert.match(logs.text(), /authentication problem/);
  assert.ok(!logs.text().includes(token), 'the PEP token never reaches a log line');
});

test('400 (records refused as invalid) is not retried forever nor dropped: the batch goes to the dead-letter file', async (t) => {
  const spoolDir = tempSpool(t);
  const cp = await stubControlPlane(t, { answer: (n) => (n === 1 ? 400 : 200) });
  const logs = capturingLogger();
  const writer = new RemoteAuditWriter({ url: cp.url, token: 't', pep: 'gw-1', logger: logs.logger, spoolDir, ...fast });
  await writer.append(rec(1));
  await writer.flush();
  await writer.append(rec(2));
  await writer.close();
  assert.equal(cp.attempts.length, 2, 'the refused batch was sent once; the next one went through');
  assert.deepEqual(cp.ids(), ['r-2']);
  const dead = readFileSync(join(spoolDir, 'gw-1.rejected.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { status: number; code: string; record: AuditRecord });
  assert.deepEqual(dead.map((d) => [d.status, d.code, d.record.requestId]), [[400, 'WARDEN_INPUT_INVALID', 'r-1']]);
  assert.equal(statSync(join(spoolDir, 'gw-1.rejected.jsonl')).mode & 0o777, 0o600);
  assert.match(logs.text(), /dead-letter/);
  assert.deepEqual(spoolFiles(spoolDir), []);
});

test('a torn spool line is skipped and counted, not fatal; every spool file is replayed, oldest first', async (t) => {
  const spoolDir = tempSpool(t);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // Two runs spool while the control plane is down; the first one's file ends in a torn line (a crash mid-write).
  for (const [run, ids] of [[1, [1, 2]], [2, [3, 4]]] as const) {
    const down = new RemoteAuditWriter({ url, token: 't', pep: 'gw-1', logger, spoolDir, ...fast });
    await Promise.all(ids.map((i) => down.append(rec(i))));
    await down.close(200);
    if (run === 1) appendFileSync(join(spoolDir, spoolFiles(spoolDir)[0]!), '{"batch":"x","record":{"requestId":"r-torn","ts":"20');
    await new Promise((r) => setTimeout(r, 2)); // the next run's files sort after
  }
  // A spool of the pre-batch-id format, with a torn line too, is replayed first.
  appendFileSync(join(spoolDir, 'gw-1.spool.jsonl.replaying'), `${JSON.stringify(rec(0))}\n{"ts":"20`);
  assert.equal(spoolFiles(spoolDir).length, 2);

  const cp = await stubControlPlane(t, { port });
  const logs = capturingLogger();
  const up = new RemoteAuditWriter({ url, token: 't', pep: 'gw-1', logger: logs.logger, spoolDir, ...fast });
  assert.equal(await up.replaySpool(), 5);
  await up.close();
  assert.deepEqual(cp.ids(), ['r-0', 'r-1', 'r-2', 'r-3', 'r-4']);
  assert.deepEqual(readdirSync(spoolDir).filter((n) => n.includes('spool')), [], 'every spool file removed once delivered');
  assert.match(logs.text(), /"skipped":1/);
  assert.ok(!logs.text().includes('r-torn'), 'the log names no record contents');
});

test('memory and disk are bounded: when queue and spool are full, append rejects (fail closed); nothing accepted is lost', async (t) => {
  const spoolDir = tempSpool(t);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const writer = new RemoteAuditWriter({ url, token: 't', pep: 'gw-1', logger, spoolDir, queueLimit: 3, batchSize: 2, spoolMaxBytes: 600, ...fast });
  const accepted: number[] = [];
  let refused: unknown = null;
  let refusedIndex = -1;
  for (let i = 0; i < 50 && !refused; i++) {
    const outcome = await Promise.race([writer.append(rec(i)).then(() => 'durable', (err: unknown) => err), new Promise((r) => setTimeout(() => r('waiting'), 20))]);
    if (outcome === 'durable' || outcome === 'waiting') accepted.push(i);
    else [refused, refusedIndex] = [outcome, i];
  }
  assert.ok(refused, 'an append was refused');
  assert.equal((refused as { code?: string }).code, 'WARDEN_AUDIT_WRITE_FAILED');
  assert.equal(writer.failingClosed, true);
  assert.ok(writer.queueDepth <= 3, 'memory stays bounded');
  const spoolBytes = spoolFiles(spoolDir).reduce((n, f) => n + statSync(join(spoolDir, f)).size, 0);
  assert.ok(spoolBytes > 0 && spoolBytes <= 600, `spool within its cap (${spoolBytes})`);
  // Operators see it on /metrics: the gauges a scrape sets from this writer.
  const registry = new Registry();
  const metrics = createGatewayMetrics(registry);
  observeAudit(writer, metrics, 'gw-1');
  const scraped = await registry.metrics();
  assert.match(scraped, /warden_audit_failing_closed\{pep="gw-1"\} 1/);
  assert.match(scraped, new RegExp(`warden_audit_spool_bytes\\{pep="gw-1"\\} ${spoolBytes}\\b`));

  // The control plane comes back: everything accepted is delivered, in order, and appends work again.
  const cp = await stubControlPlane(t, { port });
  await writer.replaySpool();
  await waitFor(() => writer.queueDepth === 0);
  assert.equal(writer.failingClosed, false, 'open again as soon as the queue drained, before any new append');
  observeAudit(writer, metrics, 'gw-1');
  assert.match(await registry.metrics(), /warden_audit_failing_closed\{pep="gw-1"\} 0/);
  await writer.append(rec(100));
  assert.equal(writer.failingClosed, false);
  await writer.close();
  const delivered = cp.ids();
  assert.deepEqual(delivered.at(-1), 'r-100');
  assert.ok(!delivered.includes(`r-${refusedIndex}`), 'the refused record was never stored');
  assert.deepEqual(delivered.slice(0, -1), accepted.map((i) => `r-${i}`), 'every accepted record, once, in order');
});
