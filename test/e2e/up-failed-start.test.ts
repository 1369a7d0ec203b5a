import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { irisInferBody, removeDir, startWardenProcess, tempDataDir, wardenBin } from '../helpers/warden.js';

/** Runs `warden …` and fails the test if it is still running after `deadlineMs` (a start that hangs). */
function runWarden(args: string[], deadlineMs: number): Promise<{ code: number | null; stderr: string }> {
  const proc = spawn(process.execPath, [wardenBin, ...args], { env: { ...process.env, WARDEN_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`warden ${args.join(' ')} still running after ${deadlineMs} ms; stderr:\n${stderr}`));
    }, deadlineMs);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

async function occupiedPort(t: { after(fn: () => void): void }): Promise<number> {
  const s: Server = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  t.after(() => s.close());
  return (s.address() as { port: number }).port;
}

test('a first start that fails does not use up the one-time admin token and demo key: the next start prints them', async (t) => {
  const dataDir = tempDataDir();
  t.after(() => removeDir(dataDir));
  const busy = await occupiedPort(t);
  const failed = await runWarden(['--data-dir', dataDir, 'up', '--demo', '--ready-json', '--port-gateway', String(busy), '--port-admin', '0'], 120_000);
  assert.equal(failed.code, 2, failed.stderr);
  assert.match(failed.stderr, /EADDRINUSE|in use/);
  const warden = await startWardenProcess({ dataDir });
  t.after(() => warden.stop());
  assert.match(warden.ready.adminToken ?? '', /^wdt_/, 'the admin token is printed by the first start that succeeds');
  assert.match(warden.ready.demoKey ?? '', /^wdn_/);
});

test('a rate-limit store that never answers fails the start with exit 2; the process does not hang', async (t) => {
  const dataDir = tempDataDir();
  t.after(() => removeDir(dataDir));
  const config = join(dataDir, 'warden.yaml');
  writeFileSync(config, 'gateway:\n  rateLimit:\n    backend: redis\n    redisUrl: redis://127.0.0.1:1\n    rules:\n      - requestsPerMinute: 60\n');
  const r = await runWarden(['--data-dir', dataDir, '--config', config, 'up', '--demo', '--ready-json', '--port-gateway', '0', '--port-admin', '0'], 120_000);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /WARDEN_GATEWAY_RATE_LIMIT_UNAVAILABLE/);
});

test('a rate-limit store down at start with onStoreDown: memory: warden up starts on per-replica limits and serves', { timeout: 180_000 }, async (t) => {
  const dataDir = tempDataDir();
  t.after(() => removeDir(dataDir));
  const warden = await startWardenProcess({
    dataDir,
    configYaml: 'gateway:\n  rateLimit:\n    backend: redis\n    redisUrl: redis://127.0.0.1:1\n    onStoreDown: memory\n    rules:\n      - match: { principal: "*" }\n        requestsPerMinute: 60\n        burst: 1\n',
  });
  t.after(() => warden.stop());
  const agent = new Agent({ connect: { ca: readFileSync(warden.ready.caBundle, 'utf8') } });
  t.after(() => agent.close());
  const infer = async () => {
    const r = await request(`${warden.ready.gatewayUrl}/v2/models/iris/infer`, { method: 'POST', dispatcher: agent, headers: { authorization: `Bearer ${warden.ready.demoKey}`, 'content-type': 'application/json' }, body: irisInferBody([[5.1, 3.5, 1.4, 0.2]]) });
    return { status: r.statusCode, text: await r.body.text() };
  };
  const first = await infer();
  assert.equal(first.status, 200, first.text);
  const second = await infer();
  assert.equal(second.status, 429, `the memory fallback still limits: ${second.text}`);
  assert.match(second.text, /WARDEN_GATEWAY_RATE_LIMITED/);
  // One warning for the outage at start, none per request.
  assert.equal(warden.stderr().match(/Redis did not answer at start-up/g)?.length, 1, warden.stderr());
});

test('the embedded store directory must be the owner\'s alone (PGlite makes its files 0666): a readable db/ is refused, nothing else changes', async (t) => {
  const dataDir = tempDataDir();
  t.after(() => removeDir(dataDir));
  const first = await startWardenProcess({ dataDir });
  assert.equal(statSync(join(dataDir, 'db')).mode & 0o777, 0o700);
  await first.stop();
  chmodSync(join(dataDir, 'db'), 0o755);
  const refused = await runWarden(['--data-dir', dataDir, 'up', '--ready-json', '--port-gateway', '0', '--port-admin', '0'], 60_000);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /WARDEN_FILE_UNSAFE: .*db is readable by group or others: run chmod 700 /);
  assert.equal(statSync(join(dataDir, 'db')).mode & 0o777, 0o755, 'the mode is not changed silently');
});
