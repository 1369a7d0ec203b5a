import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { readFileSync } from 'node:fs';
import {
  openAuditLog,
  canonicalJson,
  formatSyslogMessage,
  frameOctetCounted,
  parseSyslogUrl,
  SyslogSink,
  OtlpHttpSink,
  type AuditEntry,
} from '../../src/audit/index.js';
import { requireOrSkip } from '../helpers/ci.js';
import { auditConfig, sampleRecord, tempDir } from './helpers/fixtures.js';
import { runCli } from './helpers/cli.js';
import { makeTlsFiles, rsyslogAvailable, startRsyslog } from './helpers/rsyslog.js';

async function logWith(dir: string, n: number): Promise<void> {
  const log = await openAuditLog({ dataDir: dir, audit: auditConfig() });
  await Promise.all(Array.from({ length: n }, (_, i) => log.append(sampleRecord(i, i === 3 ? { principal: 'User::"a]b\\"c"' } : {}))));
  await log.close();
}

const entry = (i: number): AuditEntry => ({ index: i, leafHash: 'ab'.repeat(32), record: sampleRecord(i) });

test('RFC 5424 formatting: PRI by outcome, SD escaping, octet-counted framing', () => {
  const opts = { hostname: 'gw-1', appName: 'warden', procId: '42' };
  const deny = formatSyslogMessage(entry(5), opts);
  assert.match(deny, /^<108>1 2026-01-01T12:00:05\.000Z gw-1 warden 42 decision \[warden@32473 index="5" leafHash="(ab){32}" kind="decision" action="inference" decision="deny" /);
  assert.ok(deny.endsWith(' ' + canonicalJson(sampleRecord(5))));
  assert.match(formatSyslogMessage(entry(1), opts), /^<110>1 /);
  assert.match(formatSyslogMessage({ ...entry(1), record: { ts: sampleRecord(1).ts, kind: 'admin', action: 'keys.create' } }, opts), /^<109>1 .* admin \[/);
  const odd = formatSyslogMessage({ ...entry(1), record: sampleRecord(1, { principal: 'a]b"c\\d' }) }, opts);
  assert.ok(odd.includes('principal="a\\]b\\"c\\\\d"'));
  assert.equal(formatSyslogMessage(entry(1), { hostname: 'bad host', appName: '', procId: '1' }).split(' ').slice(2, 4).join(' '), 'badhost -');
  const frame = frameOctetCounted('héllo');
  assert.equal(frame.toString(), '6 héllo');
  assert.deepEqual(parseSyslogUrl('tls://127.0.0.1:6514'), { host: '127.0.0.1', port: 6514, tls: true });
  assert.throws(() => parseSyslogUrl('udp://127.0.0.1:514'), { code: 'WARDEN_INPUT_INVALID' });
  assert.throws(() => parseSyslogUrl('tcp://127.0.0.1:70000'), { code: 'WARDEN_INPUT_INVALID' });
});

test('export to a real rsyslogd over TCP: every record arrives parsed as RFC 5424', async (t) => {
  if (!requireOrSkip(t, rsyslogAvailable, 'rsyslogd and openssl (Debian: rsyslog, rsyslog-gnutls, openssl)')) return;
  const dir = tempDir(t);
  await logWith(dir, 12);
  const rs = await startRsyslog(tempDir(t, 'warden-rsyslog-'));
  t.after(() => rs.stop());
  const r = await runCli(['--data-dir', dir, 'audit', 'export', '--syslog', `tcp://127.0.0.1:${rs.port}`, '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { exported: 12, destination: 'syslog-tcp' });
  const lines = await rs.waitForLines(12);
  const fields = lines.map((l) => l.split('|'));
  assert.deepEqual(fields.map((f) => f[0]), ['108', '110', '110', '110', '110', '108', '110', '110', '110', '110', '108', '110']);
  const [pri, ts, , app, , msgid, sd, ...msg] = fields[5]!;
  assert.equal(pri, '108');
  assert.equal(new Date(ts!).toISOString(), sampleRecord(5).ts);
  assert.equal(app, 'warden');
  assert.equal(msgid, 'decision');
  assert.match(sd!, /^\[warden@32473 index="5" leafHash="[0-9a-f]{64}"/);
  assert.deepEqual(JSON.parse(msg.join('|').trim()), JSON.parse(canonicalJson(sampleRecord(5))));
  // Escaped SD values survive the round trip.
  assert.ok(fields[3]![6]!.includes('principal="User::\\"a\\]b\\\\\\"c\\""'), fields[3]![6]);
});

test('export to a real rsyslogd over TLS (RFC 5425) verifying the server against a test CA', async (t) => {
  if (!requireOrSkip(t, rsyslogAvailable, 'rsyslogd and openssl (Debian: rsyslog, rsyslog-gnutls, openssl)')) return;
  const dir = tempDir(t);
  await logWith(dir, 7);
  const certs = tempDir(t, 'warden-rsyslog-tls-');
  const tls = makeTlsFiles(certs);
  const rs = await startRsyslog(certs, tls);
  t.after(() => rs.stop());
  const r = await runCli(['--data-dir', dir, 'audit', 'export', '--syslog', `tls://127.0.0.1:${rs.port}`, '--syslog-ca', tls.ca, '--decision', 'allow']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'exported 5 records to syslog-tls');
  const lines = await rs.waitForLines(5);
  assert.ok(lines.every((l) => l.startsWith('110|')));
  // Without the CA the server is not trusted: clear error, exit 2, nothing sent.
  const untrusted = await runCli(['--data-dir', dir, 'audit', 'export', '--syslog', `tls://127.0.0.1:${rs.port}`]);
  assert.equal(untrusted.code, 2);
  assert.match(untrusted.stderr, /^WARDEN_AUDIT_SINK_FAILED: /);
  assert.equal(readFileSync(rs.output, 'utf8').split('\n').filter(Boolean).length, 5);
});

test('syslog sink reports an unreachable destination with a stable code', async () => {
  const sink = new SyslogSink({ host: '127.0.0.1', port: 1, connectTimeoutMs: 2000 });
  await assert.rejects(sink.send([entry(1)]), { code: 'WARDEN_AUDIT_SINK_FAILED' });
  await sink.close();
});

test('export to an OTLP/HTTP logs endpoint sends ExportLogsServiceRequest JSON', async (t) => {
  const dir = tempDir(t);
  await logWith(dir, 1200);
  const bodies: { resourceLogs: { resource: { attributes: { key: string; value: { stringValue: string } }[] }; scopeLogs: { scope: { name: string }; logRecords: Record<string, unknown>[] }[] }[] }[] = [];
  let failWith = 0;
  const server = createServer((req: IncomingMessage, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString()));
    req.on('end', () => {
      assert.equal(req.method, 'POST');
      assert.equal(req.url, '/v1/logs');
      assert.equal(req.headers['content-type'], 'application/json');
      if (failWith) {
        res.writeHead(failWith).end();
        return;
      }
      bodies.push(JSON.parse(data));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1/logs`;
  const r = await runCli(['--data-dir', dir, 'audit', 'export', '--otlp', url, '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { exported: 1200, destination: 'otlp-http' });
  assert.equal(bodies.length, 3, 'batched');
  const logs = bodies.flatMap((b) => b.resourceLogs[0]!.scopeLogs[0]!.logRecords);
  assert.equal(logs.length, 1200);
  assert.equal(bodies[0]!.resourceLogs[0]!.resource.attributes[0]!.value.stringValue, 'warden');
  assert.equal(bodies[0]!.resourceLogs[0]!.scopeLogs[0]!.scope.name, 'warden.audit');
  const deny = logs[10] as { timeUnixNano: string; severityNumber: number; severityText: string; body: { stringValue: string }; attributes: { key: string; value: Record<string, string> }[] };
  assert.equal(deny.severityText, 'WARN');
  assert.equal(deny.severityNumber, 13);
  assert.equal(deny.timeUnixNano, String(Date.parse(sampleRecord(10).ts)) + '000000');
  assert.equal(JSON.parse(deny.body.stringValue).requestId, 'req-10');
  assert.deepEqual(deny.attributes.find((a) => a.key === 'warden.audit.index')?.value, { intValue: '10' });
  failWith = 503;
  const failed = await runCli(['--data-dir', dir, 'audit', 'export', '--otlp', url]);
  assert.equal(failed.code, 2);
  assert.match(failed.stderr, /^WARDEN_AUDIT_SINK_FAILED: the OTLP endpoint answered 503/);
  await assert.rejects(new OtlpHttpSink({ url: 'http://127.0.0.1:1/v1/logs' }).send([entry(1)]), { code: 'WARDEN_AUDIT_SINK_FAILED' });
  assert.throws(() => new OtlpHttpSink({ url: 'file:///etc/passwd' }), { code: 'WARDEN_INPUT_INVALID' });
});
