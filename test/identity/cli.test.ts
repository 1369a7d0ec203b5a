import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync, readFileSync, statSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startControlPlane, tempDir, ADMIN_TOKEN } from './helpers/controlPlane.js';
import { createWorkloadKey, verifyPeerSvid } from '../../src/identity/index.js';
import { hasCommand } from '../helpers/ci.js';
import { cliInProcess as cli } from '../helpers/cliInProcess.js';

const runner = fileURLToPath(new URL('./helpers/runCli.ts', import.meta.url));


async function sequence<T>(fns: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = [];
  for (const fn of fns) out.push(await fn());
  return out;
}

test('identity CLI drives the admin API; agent runs as a real process; usage errors exit 2 with a WARDEN_ code', async (t) => {
  const cp = await startControlPlane();
  t.after(() => cp.close());
  const env = { WARDEN_ADMIN_TOKEN: ADMIN_TOKEN, WARDEN_ADMIN_URL: cp.url };
  const dd = ['--data-dir', cp.dataDir];
  const work = tempDir();
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const key = createWorkloadKey();
  writeFileSync(join(work, 'w.csr'), key.csrPem);

  const [token, entry, issued, usage, bundleAll, revokeUsage, issuedText] = await sequence([
    () => cli([...dd, 'identity', 'token', 'create', '--spiffe-id', 'spiffe://warden.local/svc/cli-agent', '--format', 'json'], env),
    () => cli([...dd, 'identity', 'entry', 'create', '--spiffe-id', 'spiffe://warden.local/ns/ml/sa/trainer', '--selector', 'k8s:ns:ml', '--selector', 'k8s:sa:trainer', '--format', 'json'], env),
    () => cli([...dd, 'identity', 'issue', '--spiffe-id', 'spiffe://warden.local/svc/manual', '--csr', join(work, 'w.csr'), '--ttl', '600', '--out', join(work, 'svid.pem'), '--format', 'json'], env),
    () => cli([...dd, 'identity', 'issue', '--spiffe-id', 'spiffe://warden.local/svc/x', '--csr', join(work, 'missing.csr')], env),
    () => cli([...dd, 'identity', 'bundle', '--with-intermediates', '--out', join(work, 'ca-all.pem')], env),
    () => cli([...dd, 'identity', 'revoke'], env),
    () => cli([...dd, 'identity', 'issue', '--spiffe-id', 'spiffe://warden.local/svc/manual2', '--csr', join(work, 'w.csr'), '--out', join(work, 'svid2.pem')], env),
  ]);
  assert.equal(token.code, 0, token.stderr);
  const tok = JSON.parse(token.stdout) as { token: string; expiresAt: string };
  assert.match(tok.token, /^wjt_/);
  assert.equal(entry.code, 0, entry.stderr);
  assert.deepEqual((JSON.parse(entry.stdout) as { selectors: string[] }).selectors, ['k8s:ns:ml', 'k8s:sa:trainer']);
  assert.equal(issued.code, 0, issued.stderr);
  const svid = JSON.parse(issued.stdout) as { serial: string; spiffeId: string };
  assert.equal(verifyPeerSvid(readFileSync(join(work, 'svid.pem'), 'utf8'), cp.ca.bundlePem(), null, 'warden.local').serial, svid.serial);
  // With --out and text output: one line saying what was written (the PEM goes only to the file).
  assert.equal(issuedText.code, 0, issuedText.stderr);
  const written = verifyPeerSvid(readFileSync(join(work, 'svid2.pem'), 'utf8'), cp.ca.bundlePem(), null, 'warden.local');
  assert.equal(issuedText.stdout, `wrote ${join(work, 'svid2.pem')}: spiffe://warden.local/svc/manual2, serial ${written.serial}, valid until ${written.notAfter.toISOString()}\n`);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /^WARDEN_IO: /);
  assert.equal(usage.stdout, '');
  assert.equal(revokeUsage.code, 2);
  assert.match(revokeUsage.stderr, /^WARDEN_USAGE: give exactly one of --spiffe-id or --serial/);
  assert.equal(bundleAll.code, 0, bundleAll.stderr);
  if (hasCommand('openssl')) {
    // The literal third-party check from the issue, with a CA file that carries the intermediate.
    const { spawnSync } = await import('node:child_process');
    const v = spawnSync('openssl', ['verify', '-CAfile', join(work, 'ca-all.pem'), '-purpose', 'sslclient', join(work, 'svid.pem')], { encoding: 'utf8' });
    assert.equal(v.status, 0, v.stderr);
  }

  // The agent as its own process: attests with the token, writes files, prints one ready line.
  const out = join(work, 'agent');
  const agent = spawn(process.execPath, ['--import', 'tsx', runner, ...dd, 'agent', '--server', cp.url, '--join-token-file', join(work, 'token'), '--out', out, '--socket', join(work, 'agent.sock'), '--ready-json'], {
    env: { ...process.env, WARDEN_LOG_LEVEL: 'silent' },
  });
  writeFileSync(join(work, 'token'), tok.token + '\n', { mode: 0o600 });
  t.after(() => agent.kill('SIGTERM'));
  const ready = await new Promise<string>((resolve, reject) => {
    let buf = '';
    agent.stdout.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) resolve(buf.split('\n')[0]!);
    });
    agent.on('exit', (code) => reject(new Error(`agent exited ${code}`)));
  });
  const info = JSON.parse(ready) as { spiffeId: string; serial: string };
  assert.equal(info.spiffeId, 'spiffe://warden.local/svc/cli-agent');
  assert.equal(statSync(join(out, 'svid.key')).mode & 0o777, 0o600);
  assert.equal(statSync(join(work, 'agent.sock')).mode & 0o777, 0o600);

  const [list, revoke, jwks] = await sequence([
    () => cli([...dd, 'identity', 'list', '--format', 'json'], env),
    () => cli([...dd, 'identity', 'revoke', '--serial', svid.serial, '--reason', 'rotated out', '--format', 'json'], env),
    () => cli([...dd, 'identity', 'bundle', '--format', 'jwks'], env),
  ]);
  assert.equal(list.code, 0, list.stderr);
  const rows = (JSON.parse(list.stdout) as { svids: { spiffeId: string; notAfter: string }[] }).svids;
  assert.ok(rows.some((r) => r.spiffeId === 'spiffe://warden.local/svc/cli-agent'));
  assert.ok(rows.some((r) => r.spiffeId === 'spiffe://warden.local/svc/manual'));
  assert.equal(revoke.code, 0, revoke.stderr);
  assert.ok(cp.ca.revocations.hasSerial(svid.serial));
  assert.equal(jwks.code, 0, jwks.stderr);
  const bundle = JSON.parse(jwks.stdout) as { keys: { use: string }[]; spiffe_sequence: number };
  assert.ok(bundle.keys.some((k) => k.use === 'x509-svid') && bundle.keys.some((k) => k.use === 'jwt-svid'));
  // Secrets never reach the audit log.
  assert.ok(!JSON.stringify(cp.audit.records).includes(tok.token));
  const text = await cli([...dd, 'identity', 'list'], env);
  assert.match(text.stdout, /SERIAL\s+SPIFFE ID/);
  assert.match(text.stdout, /yes/);
});
