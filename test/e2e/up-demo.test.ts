import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { startWardenProcess, wardenClient, runCli, removeDir, tempDataDir, irisInferBody, type WardenProcess } from '../helpers/warden.js';
import { readAuditRecords } from '../helpers/audit.js';

/** A loopback port with nothing listening (for the upstream-down case). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

let warden: WardenProcess;
let client: ReturnType<typeof wardenClient>;
let dataDir: string;
const secretsSeen: string[] = [];
let requestsMade = 0;

async function call(method: string, path: string, headers: Record<string, string> = {}, body?: string) {
  requestsMade++;
  return client.call(method, warden.ready.gatewayUrl + path, { headers: { 'content-type': 'application/json', ...headers }, body });
}

/**
 * Polls with a just-revoked key until the gateway refuses it (within ~1 s). A request under way when
 * the revoking snapshot lands is cut off (connection closed, by design, and audited): that poll has
 * no answer, a later one is refused.
 */
async function expectRevokedSoon(key: string): Promise<void> {
  const poll = () =>
    call('POST', '/v2/models/iris/infer', { authorization: `Bearer ${key}` }, irisInferBody([[5, 3, 1.5, 0.2]])).catch((err: { code?: string }) => {
      if (err.code !== 'UND_ERR_SOCKET') throw err;
      return null;
    });
  let r = await poll();
  for (let i = 0; i < 50 && (r === null || r.status === 200); i++) {
    await new Promise((res) => setTimeout(res, 20));
    r = await poll();
  }
  assert.ok(r, 'a request after the revocation is answered');
  expectError(r, 401, 'WARDEN_AUTHN_KEY_REVOKED');
}

function expectError(r: { status: number; json: unknown; headers: Record<string, unknown> }, status: number, code: string): void {
  assert.equal(r.status, status, JSON.stringify(r.json));
  const e = (r.json as { error: { code: string; message: string; requestId: string } }).error;
  assert.equal(e.code, code);
  assert.ok(e.message.length > 0);
  assert.equal(e.requestId, r.headers['x-warden-request-id']);
}

before(async () => {
  dataDir = tempDataDir();
  const ghost = await closedPort();
  warden = await startWardenProcess({
    dataDir,
    configYaml: `gateway:\n  maxBodyBytes: 4096\n  upstreams:\n    - name: ghost\n      url: http://127.0.0.1:${ghost}\n      models: [ghost]\n      timeoutMs: 2000\n`,
  });
  client = wardenClient(warden.ready.caBundle);
  secretsSeen.push(warden.ready.adminToken!, warden.ready.demoKey!);
});

after(async () => {
  await client?.close();
  await warden?.stop();
  removeDir(dataDir);
});

test('first start prints URLs, the admin token and a demo key once', () => {
  assert.match(warden.ready.gatewayUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.match(warden.ready.adminUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.match(warden.ready.adminToken!, /^wdt_/);
  assert.match(warden.ready.demoKey!, /^wdn_/);
  assert.equal(statSync(join(dataDir, 'keys', 'server-secret')).mode & 0o777, 0o600);
});

test('an allowed OIP v2 call returns a real prediction with Warden headers', async () => {
  const r = await call('POST', '/v2/models/iris/infer', { authorization: `Bearer ${warden.ready.demoKey}` }, irisInferBody([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]));
  assert.equal(r.status, 200, r.text);
  const out = (r.json as { outputs: { name: string; data: number[] }[] }).outputs;
  assert.deepEqual(out.find((o) => o.name === 'label')!.data, [0, 2]);
  assert.match(String(r.headers['x-warden-request-id']), /^[0-9a-f-]{36}$/);
  assert.ok(Number(r.headers['x-warden-overhead-ms']) >= 0);
  // The versioned route (tritonclient and the KServe SDK use it when a version is set) is allowed too.
  const versioned = await call('POST', '/v2/models/iris/versions/1/infer', { authorization: `Bearer ${warden.ready.demoKey}` }, irisInferBody([[5.1, 3.5, 1.4, 0.2]]));
  assert.equal(versioned.status, 200, versioned.text);
});

test('the OpenAI-compatible echo model answers through the gateway', async () => {
  const r = await call('POST', '/v1/chat/completions', { authorization: `Bearer ${warden.ready.demoKey}` }, JSON.stringify({ model: 'echo', messages: [{ role: 'user', content: 'hi' }] }));
  assert.equal(r.status, 200, r.text);
  assert.equal((r.json as { choices: { message: { content: string } }[] }).choices[0]!.message.content, 'echo: hi');
});

test('missing, malformed and wrong keys get 401 with WARDEN_AUTHN codes', async () => {
  expectError(await call('POST', '/v2/models/iris/infer', {}, irisInferBody([[1, 2, 3, 4]])), 401, 'WARDEN_AUTHN_MISSING');
  expectError(await call('POST', '/v2/models/iris/infer', { authorization: 'Basic abc' }, irisInferBody([[1, 2, 3, 4]])), 401, 'WARDEN_AUTHN_MALFORMED');
  const wrong = warden.ready.demoKey!.slice(0, -4) + 'AAAA';
  secretsSeen.push(wrong);
  const r = await call('POST', '/v2/models/iris/infer', { authorization: `Bearer ${wrong}` }, irisInferBody([[1, 2, 3, 4]]));
  expectError(r, 401, 'WARDEN_AUTHN_KEY_INVALID');
  assert.ok(!r.text.includes(wrong), 'the error never echoes the presented key');
});

test('a model outside the key scope is denied with 403', async () => {
  expectError(await call('POST', '/v1/chat/completions', { authorization: `Bearer ${warden.ready.demoKey}` }, JSON.stringify({ model: 'ghost', messages: [] })), 403, 'WARDEN_AUTHZ_DENIED');
});

test('oversized bodies get 413 and malformed JSON gets 400', async () => {
  const auth = { authorization: `Bearer ${warden.ready.demoKey}` };
  expectError(await call('POST', '/v2/models/iris/infer', auth, JSON.stringify({ pad: 'x'.repeat(5000) })), 413, 'WARDEN_GATEWAY_BODY_TOO_LARGE');
  expectError(await call('POST', '/v2/models/iris/infer', auth, '{"inputs": [}'), 400, 'WARDEN_GATEWAY_BAD_JSON');
  expectError(await call('POST', '/v1/chat/completions', auth, JSON.stringify({ messages: [] })), 400, 'WARDEN_GATEWAY_INVALID_REQUEST');
  expectError(await call('GET', '/v2/models/iris/infer', auth), 405, 'WARDEN_GATEWAY_METHOD_NOT_ALLOWED');
  expectError(await call('GET', '/nope', auth), 404, 'WARDEN_GATEWAY_ROUTE_NOT_FOUND');
});

test('keys created, revoked and expired through the CLI are enforced at once', async () => {
  const env = { WARDEN_ADMIN_TOKEN: warden.ready.adminToken! };
  const created = await runCli(['--data-dir', dataDir, 'keys', 'create', '--name', 'ops', '--model', '*', '--format', 'json'], { env });
  assert.equal(created.code, 0, created.stderr);
  const { key, record } = JSON.parse(created.stdout) as { key: string; record: { id: string } };
  secretsSeen.push(key);

  const ok = await call('POST', '/v2/models/iris/infer', { authorization: `Bearer ${key}` }, irisInferBody([[5, 3, 1.5, 0.2]]));
  assert.equal(ok.status, 200);
  assert.equal((await call('GET', '/v2/models/iris/versions/1/ready', { authorization: `Bearer ${key}` })).status, 200, 'a --model key covers every version');
  // Upstream down: the key may call the ghost model, whose server is not listening.
  expectError(await call('POST', '/v1/chat/completions', { authorization: `Bearer ${key}` }, JSON.stringify({ model: 'ghost', messages: [{ role: 'user', content: 'hi' }] })), 502, 'WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE');

  const revoked = await runCli(['--data-dir', dataDir, 'keys', 'revoke', record.id], { env });
  assert.equal(revoked.code, 0, revoked.stderr);
  await expectRevokedSoon(key);

  const short = await runCli(['--data-dir', dataDir, 'keys', 'create', '--name', 'short', '--model', 'iris', '--ttl', '1s', '--format', 'json'], { env });
  assert.equal(short.code, 0, short.stderr);
  const shortKey = (JSON.parse(short.stdout) as { key: string }).key;
  secretsSeen.push(shortKey);
  await new Promise((res) => setTimeout(res, 1200));
  expectError(await call('POST', '/v2/models/iris/infer', { authorization: `Bearer ${shortKey}` }, irisInferBody([[5, 3, 1.5, 0.2]])), 401, 'WARDEN_AUTHN_KEY_EXPIRED');

  const list = await runCli(['--data-dir', dataDir, 'keys', 'list', '--format', 'json'], { env });
  assert.equal(list.code, 0);
  const keys = (JSON.parse(list.stdout) as { keys: { name: string; revokedAt: string | null }[] }).keys;
  assert.ok(keys.find((k) => k.name === 'ops')!.revokedAt);
  for (const s of secretsSeen) assert.ok(!list.stdout.includes(s));
});

test('CLI errors are one line with a WARDEN code and exit 2', async () => {
  const bad = await runCli(['--data-dir', dataDir, 'keys', 'create', '--name', 'x', '--ttl', 'soon'], { env: { WARDEN_ADMIN_TOKEN: warden.ready.adminToken! } });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^WARDEN_USAGE: .+\n$/);
  const noToken = await runCli(['--data-dir', dataDir, 'keys', 'list'], { env: { WARDEN_ADMIN_TOKEN: '' } });
  assert.equal(noToken.code, 2);
  assert.match(noToken.stderr, /^WARDEN_AUTHN_ADMIN_REQUIRED/);
  const wrongToken = await runCli(['--data-dir', dataDir, 'keys', 'list'], { env: { WARDEN_ADMIN_TOKEN: 'wdt_adm_0000000000000000_' + 'A'.repeat(43) } });
  assert.equal(wrongToken.code, 2);
  assert.match(wrongToken.stderr, /^WARDEN_AUTHN_ADMIN_REQUIRED/);
  const unknown = await runCli(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^WARDEN_USAGE/);
});

test('PEP tokens through the CLI: created once, listed without the secret, scoped to the PEP channel, revocable', async () => {
  const env = { WARDEN_ADMIN_TOKEN: warden.ready.adminToken! };
  const created = await runCli(['--data-dir', dataDir, 'pep-token', 'create', '--name', 'edge-1', '--format', 'json'], { env });
  assert.equal(created.code, 0, created.stderr);
  const { id, token } = JSON.parse(created.stdout) as { id: string; token: string };
  assert.match(token, /^wdt_adm_[0-9a-f]{16}_/);
  const listed = await runCli(['--data-dir', dataDir, 'pep-token', 'list'], { env });
  assert.match(listed.stdout, new RegExp(`${id}\\s+edge-1\\s+.*active`));
  assert.ok(!listed.stdout.includes(token));
  // The PEP token cannot manage keys (or anything else outside the PEP channel).
  const asPep = await runCli(['--data-dir', dataDir, 'keys', 'list'], { env: { WARDEN_ADMIN_TOKEN: token } });
  assert.equal(asPep.code, 2);
  assert.match(asPep.stderr, /^WARDEN_AUTHN_PEP_TOKEN_SCOPE/);
  const revoked = await runCli(['--data-dir', dataDir, 'pep-token', 'revoke', id], { env });
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.match((await runCli(['--data-dir', dataDir, 'pep-token', 'list'], { env })).stdout, new RegExp(`${id}.*revoked`));
  const again = await runCli(['--data-dir', dataDir, 'pep-token', 'revoke', id], { env });
  assert.equal(again.code, 2);
  assert.match(again.stderr, /^WARDEN_NOT_FOUND/);
});

test('key scopes and the published schema: scopes must grant something, a key the schema refuses is refused, revocations still reach the gateway', async () => {
  const env = { WARDEN_ADMIN_TOKEN: warden.ready.adminToken! };
  const cli = (args: string[]) => runCli(['--data-dir', dataDir, ...args], { env });
  const refused = await cli(['keys', 'create', '--name', 'invisible', '--model', 'iris\u200b']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /WARDEN_INPUT_INVALID/);
  // The demo publishes examples/policies/schema.cedarschema, which has no Team type.
  const odd = await cli(['keys', 'create', '--name', 'odd', '--principal', 'Team::"y"', '--model', 'iris']);
  assert.equal(odd.code, 2, 'refused at creation: it would grant nothing');
  assert.match(odd.stderr, /WARDEN_INPUT_INVALID.*schema/);
  // Any model name a request may use (here 105 characters, once a key whose permit id could not
  // hold it: saved, then every snapshot rebuild failed); a whole scope is taken as it is.
  const scopesOf = async (name: string, model: string): Promise<string[]> => {
    const r = await cli(['keys', 'create', '--name', name, '--model', model, '--format', 'json']);
    assert.equal(r.code, 0, `${model}: ${r.stderr}`);
    const { key, record } = JSON.parse(r.stdout) as { key: string; record: { scopes: string[] } };
    secretsSeen.push(key);
    return record.scopes;
  };
  assert.deepEqual(await scopesOf('long', 'm'.repeat(105)), [`model:${'m'.repeat(105)}`]);
  assert.deepEqual(await scopesOf('tools', 'qwen2.5+tools'), ['model:qwen2.5+tools']);
  assert.deepEqual(await scopesOf('prefixed', 'model:iris'), ['model:iris']);
  assert.deepEqual(await scopesOf('all-prefixed', 'model:*'), ['model:*']);
  const tooLong = await cli(['keys', 'create', '--name', 'too-long', '--model', 'm'.repeat(129)]);
  assert.equal(tooLong.code, 2);
  assert.match(tooLong.stderr, /^WARDEN_INPUT_INVALID: scopes\.0: /);
  for (const name of ['long', 'tools', 'prefixed', 'all-prefixed']) assert.equal((await cli(['keys', 'revoke', name])).code, 0, name);
  // Snapshots are still built: a key created and revoked now is enforced at once.
  const created = await cli(['keys', 'create', '--name', 'after-schema', '--model', 'iris', '--format', 'json']);
  assert.equal(created.code, 0, created.stderr);
  const { key } = JSON.parse(created.stdout) as { key: string };
  secretsSeen.push(key);
  assert.equal((await call('POST', '/v2/models/iris/infer', { authorization: `Bearer ${key}` }, irisInferBody([[5, 3, 1.5, 0.2]]))).status, 200);
  assert.equal((await cli(['keys', 'revoke', 'after-schema'])).code, 0);
  await expectRevokedSoon(key);
});

test('every gateway request has one audit record, and no key material is anywhere in the data dir logs', async () => {
  const stopCode = await warden.stop();
  assert.equal(stopCode, 0, 'SIGTERM shuts down cleanly');
  const records = await readAuditRecords(dataDir);
  const decisions = records.filter((r) => r.kind === 'decision');
  assert.equal(decisions.length, requestsMade);
  const denied = decisions.filter((r) => r.decision === 'deny');
  assert.ok(denied.some((r) => r.code === 'WARDEN_AUTHN_MISSING'));
  assert.ok(denied.some((r) => r.code === 'WARDEN_AUTHN_KEY_REVOKED'));
  assert.ok(denied.some((r) => r.code === 'WARDEN_AUTHN_KEY_EXPIRED'));
  assert.ok(records.some((r) => r.kind === 'admin' && r.action === 'keys.revoke'));
  const allowedIris = decisions.find((r) => r.decision === 'allow' && r.model === 'iris' && r.principal === 'ApiKey::"demo"');
  assert.deepEqual(allowedIris?.policies, ['demo-invoke-iris'], 'the audit record explains which Cedar policy allowed the call');
  assert.ok(decisions.some((r) => r.decision === 'allow' && r.policies?.some((p) => p.startsWith('key-scope:'))));
  const auditDir = join(dataDir, 'audit');
  const everything = readdirSync(auditDir, { recursive: true })
    .map((f) => join(auditDir, String(f)))
    .filter((f) => statSync(f).isFile())
    .map((f) => readFileSync(f).toString('latin1'))
    .join('\n');
  for (const s of secretsSeen) {
    assert.ok(!everything.includes(s), 'audit log contains a credential');
    assert.ok(!everything.includes(s.slice(-43)), 'audit log contains the secret part of a credential');
  }
  assert.ok(!warden.stderr().includes(warden.ready.demoKey!), 'logs never contain the demo key');
});

test('a second start on the same data dir prints null credentials and keeps the keys', async () => {
  const again = await startWardenProcess({ dataDir });
  try {
    assert.equal(again.ready.adminToken, null);
    assert.equal(again.ready.demoKey, null);
    const c = wardenClient(again.ready.caBundle);
    const r = await c.call('POST', again.ready.gatewayUrl + '/v2/models/iris/infer', { headers: { authorization: `Bearer ${warden.ready.demoKey}` }, body: irisInferBody([[5.1, 3.5, 1.4, 0.2]]) });
    assert.equal(r.status, 200);
    await c.close();
    // The first run wrote when its keys were last used (flushed at shutdown).
    const listed = await runCli(['--data-dir', dataDir, 'keys', 'list', '--format', 'json'], { env: { WARDEN_ADMIN_TOKEN: warden.ready.adminToken! } });
    assert.equal(listed.code, 0, listed.stderr);
    const keys = (JSON.parse(listed.stdout) as { keys: { name: string; lastUsedAt: string | null }[] }).keys;
    assert.ok(keys.find((k) => k.name === 'demo')?.lastUsedAt, 'the demo key shows when it was last used');
  } finally {
    await again.stop();
  }
});
