// A first `warden up` interrupted before it printed its one-time credentials (kill -9, Ctrl-C)
// must not lock the user out: the next start mints and prints new ones. And whoever holds the
// data dir can mint an admin token offline (`warden admin-token create`).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, runCli, startWardenProcess, tempDataDir, wardenBin, wardenClient } from '../helpers/warden.js';

/**
 * Starts a first `warden up --demo` and sends `signal` mid-start. SIGKILL: once the gateway
 * starts (its insecureDev warning), when the credentials are minted and the ready line is not
 * printed yet. Others: once the CA has written bundle.pem, so the process handles the signal
 * while the start still has I/O ahead (the last steps run without yielding to signal handlers).
 * Returns null when the ready line won the race (the signal came too late to test anything).
 */
async function interruptFirstStart(dataDir: string, signal: NodeJS.Signals): Promise<{ code: number | null; stdout: string } | null> {
  const proc = spawn(process.execPath, [wardenBin, '--data-dir', dataDir, 'up', '--demo', '--ready-json', '--insecure-dev', '--port-gateway', '0', '--port-admin', '0'], {
    env: { ...process.env, WARDEN_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let sent = false;
  proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  proc.stderr.on('data', (c: Buffer) => {
    if (!sent && signal === 'SIGKILL' && c.toString().includes('insecureDev')) {
      sent = true;
      proc.kill(signal);
    }
  });
  const caReady = setInterval(() => {
    if (!sent && signal !== 'SIGKILL' && existsSync(join(dataDir, 'bundle.pem'))) {
      sent = true;
      proc.kill(signal);
    }
  }, 5);
  const deadline = setTimeout(() => proc.kill('SIGKILL'), 120_000);
  const code = await new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  clearTimeout(deadline);
  clearInterval(caReady);
  assert.ok(sent, `warden up exited (${code}) before the gateway started`);
  return stdout.includes('adminToken') ? null : { code, stdout };
}

async function interruptedUntilMidStart(t: TestContext, signal: NodeJS.Signals): Promise<{ dataDir: string; code: number | null }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const dataDir = tempDataDir('warden-interrupted-');
    t.after(() => removeDir(dataDir));
    const r = await interruptFirstStart(dataDir, signal);
    if (r) return { dataDir, code: r.code };
  }
  throw new Error(`${signal} never landed before the ready line in 5 attempts`);
}

async function assertAdminTokenWorks(ready: { adminUrl: string; caBundle: string }, token: string): Promise<void> {
  const client = wardenClient(ready.caBundle);
  try {
    const r = await client.call('GET', `${ready.adminUrl}/api/v1/keys`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200, r.text);
  } finally {
    await client.close();
  }
}

test('kill -9 during the first start (credentials minted, not printed): the next start prints a working admin token and demo key', async (t) => {
  const { dataDir } = await interruptedUntilMidStart(t, 'SIGKILL');
  const warden = await startWardenProcess({ dataDir });
  t.after(() => warden.stop());
  assert.match(warden.ready.adminToken ?? '', /^wdt_adm_/, 'the admin token is printed by the first start that gets to print it');
  assert.match(warden.ready.demoKey ?? '', /^wdn_/);
  await assertAdminTokenWorks(warden.ready, warden.ready.adminToken!);
  assert.equal(await warden.stop(), 0);
  // Printed once: a later start prints none.
  const again = await startWardenProcess({ dataDir });
  t.after(() => again.stop());
  assert.equal(again.ready.adminToken, null);
  assert.equal(again.ready.demoKey, null);
});

test('Ctrl-C during the first start shuts down cleanly (exit 0, nothing printed) and the next start prints the admin token', async (t) => {
  const { dataDir, code } = await interruptedUntilMidStart(t, 'SIGINT');
  assert.equal(code, 0, 'a signal during the start is handled: a clean shutdown, not the default kill (130)');
  const warden = await startWardenProcess({ dataDir });
  t.after(() => warden.stop());
  assert.match(warden.ready.adminToken ?? '', /^wdt_adm_/);
  await assertAdminTokenWorks(warden.ready, warden.ready.adminToken!);
});

test('warden admin-token create mints a working admin token from the data dir, refuses while Warden runs, and is audited', async (t) => {
  const dataDir = tempDataDir('warden-admin-token-');
  t.after(() => removeDir(dataDir));
  const empty = tempDataDir('warden-admin-token-empty-');
  t.after(() => removeDir(empty));
  const none = await runCli(['--data-dir', empty, 'admin-token', 'create']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^WARDEN_INPUT_INVALID: no Warden state/);

  let warden = await startWardenProcess({ dataDir, args: [] });
  const running = await runCli(['--data-dir', dataDir, 'admin-token', 'create']);
  assert.equal(running.code, 2, running.stderr);
  assert.match(running.stderr, /^WARDEN_AUDIT_LOCKED: .*stop it first/);
  assert.equal(running.stdout, '');
  assert.equal(await warden.stop(), 0);

  const created = await runCli(['--data-dir', dataDir, 'admin-token', 'create', '--name', 'lost-the-first', '--format', 'json']);
  assert.equal(created.code, 0, created.stderr);
  const minted = JSON.parse(created.stdout) as { id: string; name: string; token: string };
  assert.match(minted.token, new RegExp(`^wdt_${minted.id}_`));
  assert.equal(minted.name, 'lost-the-first');
  assert.ok(!created.stderr.includes(minted.token), 'the token is printed once, on stdout only');

  warden = await startWardenProcess({ dataDir, args: [] });
  t.after(() => warden.stop());
  await assertAdminTokenWorks(warden.ready, minted.token);
  const client = wardenClient(warden.ready.caBundle);
  t.after(() => client.close());
  const records = await client.call('GET', `${warden.ready.adminUrl}/api/v1/audit/records?action=admin.token.create`, { headers: { authorization: `Bearer ${minted.token}` } });
  const entries = (records.json as { entries: { record: { resource: string; details: { outcome: string; name: string } } }[] }).entries;
  assert.deepEqual(entries.map((e) => [e.record.resource, e.record.details.outcome, e.record.details.name]).sort(), [
    [`AdminToken::"${minted.id}"`, 'attempted', 'lost-the-first'],
    [`AdminToken::"${minted.id}"`, 'committed', 'lost-the-first'],
  ]);
  // The secret is all after `wdt_<id>_` (it may contain `_` itself: base64url).
  const secret = minted.token.slice(`wdt_${minted.id}_`.length);
  assert.ok(secret.length >= 32, 'a whole secret, not a fragment');
  assert.ok(!records.text.includes(secret), 'the secret is not in the audit log');
});
