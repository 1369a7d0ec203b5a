import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type IncomingMessage } from 'node:http';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Agent, fetch as undiciFetch, request } from 'undici';
import OpenAI from 'openai';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { startWardenProcess, removeDir, tempDataDir, irisInferBody, type WardenProcess } from '../helpers/warden.js';
import { readAuditRecords } from '../helpers/audit.js';
import { hasCommand, requireOrSkip } from '../helpers/ci.js';
import { createWorkloadKey } from '../../src/identity/index.js';

/** A test OIDC issuer: JWKS over HTTP on loopback, ES256 keys minted here. */
async function startIssuer() {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const mint = (claims: Record<string, unknown>, o: { exp?: string | number; aud?: string } = {}) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(url).setAudience(o.aud ?? 'warden-gateway').setIssuedAt().setExpirationTime(o.exp ?? '5m').sign(privateKey);
  return { url, mint, server };
}

/** Upstream whose streams misbehave on purpose; records whether the gateway aborted it. */
function startTrickyUpstream(): Promise<{ url: string; server: Server; aborted: () => number }> {
  let aborted = 0;
  const server = createServer(async (req: IncomingMessage, res) => {
    let body = '';
    for await (const c of req) body += c;
    const model = (JSON.parse(body || '{}') as { model?: string }).model;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const chunk = (text: string) => `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model, choices: [{ index: 0, delta: { content: text }, finish_reason: null }] })}\n\n`;
    res.write(chunk('first '));
    if (model === 'stall') return; // never finishes: the gateway's body timeout must end it cleanly
    let closed = false;
    res.on('close', () => {
      if (!res.writableFinished) {
        closed = true;
        aborted++;
      }
    });
    for (let i = 0; i < 200 && !closed; i++) {
      await new Promise((r) => setTimeout(r, 25));
      res.write(chunk(`part${i} `));
    }
    res.end('data: [DONE]\n\n');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, aborted: () => aborted })));
}

let warden: WardenProcess;
let dataDir: string;
let issuer: Awaited<ReturnType<typeof startIssuer>>;
let tricky: Awaited<ReturnType<typeof startTrickyUpstream>>;
let agent: Agent;
let ca: string;

async function admin(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) {
  const r = await request(warden.ready.adminUrl + path, { method, dispatcher: agent, headers: { authorization: `Bearer ${warden.ready.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.statusCode, json: (await r.body.json()) as Record<string, unknown> };
}

async function gw(path: string, headers: Record<string, string>, body?: string) {
  const r = await request(warden.ready.gatewayUrl + path, { method: body === undefined ? 'GET' : 'POST', dispatcher: agent, headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await r.body.text();
  return { status: r.statusCode, headers: r.headers, text, json: (() => { try { return JSON.parse(text) as { error?: { code: string } }; } catch { return {}; } })() };
}

before(async () => {
  issuer = await startIssuer();
  tricky = await startTrickyUpstream();
  dataDir = tempDataDir();
  warden = await startWardenProcess({
    dataDir,
    configYaml: [
      'gateway:',
      '  region: eu-west-1',
      '  idleTimeoutSeconds: 30',
      '  bodyTimeoutSeconds: 1',
      '  upstreams:',
      '    - name: tricky',
      `      url: ${tricky.url}`,
      '      models: [stall, slow]',
      '      timeoutMs: 1500',
      '  authn:',
      '    mtls: true',
      '    jwtIssuers:',
      `      - issuer: ${issuer.url}`,
      '        audience: warden-gateway',
      `        jwksUri: ${issuer.url}/jwks.json`,
      '        allowedAlgorithms: [ES256]',
      '  rateLimit:',
      '    rules:',
      '      - match: { principal: \'ApiKey::"limited"\' }',
      '        requestsPerMinute: 6',
      '        burst: 2',
    ].join('\n') + '\n',
  });
  ca = readFileSync(warden.ready.caBundle, 'utf8');
  agent = new Agent({ connect: { ca } });
  // Policy: the demo key keeps its grants; alice (from the OIDC issuer) may invoke echo; every key may use the tricky models.
  const current = (await admin('GET', '/api/v1/policies')).json as { policies?: string };
  const extra = `
@id("alice-echo")
permit(principal == User::"alice", action == Action::"invoke", resource == Model::"echo");
@id("demo-stall")
permit(principal == ApiKey::"demo", action == Action::"invoke", resource == Model::"stall");
@id("demo-slow")
permit(principal == ApiKey::"demo", action == Action::"invoke", resource == Model::"slow");
@id("workers-iris")
permit(principal is Service, action == Action::"invoke", resource == Model::"iris");
@id("no-restricted-echo")
forbid(principal, action == Action::"invoke", resource == Model::"echo") when { context.classification == "restricted" };
@id("eu-residency-iris")
forbid(principal, action == Action::"invoke", resource == Model::"iris") unless { context.region == "eu-west-1" };
`;
  const put = await admin('PUT', '/api/v1/policies', { policies: (current.policies ?? '') + extra });
  assert.ok(put.status < 300, JSON.stringify(put.json));
});

after(async () => {
  await agent?.close();
  await warden?.stop();
  issuer?.server.close();
  tricky?.server.close();
  if (dataDir) removeDir(dataDir);
});

test('the official openai SDK works by changing only the base URL: chat, streaming chat, embeddings, model list', async () => {
  const client = new OpenAI({
    apiKey: warden.ready.demoKey!,
    baseURL: `${warden.ready.gatewayUrl}/v1`,
    fetch: ((url: string, init: Record<string, unknown>) => undiciFetch(url, { ...init, dispatcher: agent } as never)) as never,
    maxRetries: 0,
  });
  const chat = await client.chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: 'hello warden' }] });
  assert.equal(chat.choices[0]!.message.content, 'echo: hello warden');
  const stream = await client.chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: 'one two three' }], stream: true });
  let text = '';
  let chunks = 0;
  for await (const part of stream) {
    text += part.choices[0]?.delta?.content ?? '';
    chunks++;
  }
  assert.equal(text, 'echo: one two three');
  assert.ok(chunks >= 4, 'streamed chunk by chunk');
  const emb = await client.embeddings.create({ model: 'echo', input: ['a', 'b'] });
  assert.equal(emb.data.length, 2);
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id).sort(), ['echo', 'iris', 'slow', 'stall'].filter((m) => m !== 'ghost').sort());
  await assert.rejects(
    new OpenAI({ apiKey: 'wdn_aaaaaaaaaaaa_' + 'A'.repeat(43), baseURL: `${warden.ready.gatewayUrl}/v1`, fetch: ((u: string, i: Record<string, unknown>) => undiciFetch(u, { ...i, dispatcher: agent } as never)) as never, maxRetries: 0 }).chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: 'x' }] }),
    (e: unknown) => (e as { status?: number }).status === 401,
  );
});

test('HTTP/2 (curl --http2): chat, streamed chat with redaction released before finish_reason, and errors', (t) => {
  if (!requireOrSkip(t, hasCommand('curl'), 'curl')) return;
  const call = (body: string, auth = true) =>
    spawnSync('curl', ['-sS', '--http2', '-N', '-i', '--cacert', warden.ready.caBundle, ...(auth ? ['-H', `Authorization: Bearer ${warden.ready.demoKey}`] : []), '-H', 'content-type: application/json', `${warden.ready.gatewayUrl}/v1/chat/completions`, '-d', body], { encoding: 'utf8' }).stdout;
  const plain = call(JSON.stringify({ model: 'echo', messages: [{ role: 'user', content: 'over h2' }] }));
  assert.match(plain, /^HTTP\/2 200/);
  assert.match(plain, /x-warden-request-id: /);
  assert.match(plain, /"content":"echo: over h2"/);
  const streamed = call(JSON.stringify({ model: 'echo', stream: true, messages: [{ role: 'user', content: 'write to ivy@example.com today' }] }));
  assert.match(streamed, /^HTTP\/2 200/);
  assert.doesNotMatch(streamed, /ivy@example\.com/);
  const events = streamed.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)) as { choices: { delta: { content?: string }; finish_reason: string | null }[] });
  const finish = events.findIndex((e) => e.choices[0]?.finish_reason === 'stop');
  assert.equal(events.slice(0, finish).map((e) => e.choices[0]?.delta.content ?? '').join(''), 'echo: write to [REDACTED:email] today');
  assert.match(call('{}', false), /^HTTP\/2 401/);
});

test('curl calls the OIP v2 route over TLS verified with the CA bundle', (t) => {
  if (!requireOrSkip(t, hasCommand('curl'), 'curl')) return;
  const r = spawnSync('curl', ['-sS', '--cacert', warden.ready.caBundle, '-H', `Authorization: Bearer ${warden.ready.demoKey}`, '-H', 'content-type: application/json', `${warden.ready.gatewayUrl}/v2/models/iris/infer`, '-d', irisInferBody([[6.7, 3.0, 5.2, 2.3]])], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { outputs: { name: string; data: number[] }[] };
  assert.deepEqual(out.outputs.find((o) => o.name === 'label')!.data, [2]);
});

test('JWTs from a configured OIDC issuer authenticate; expired, wrong-audience and forged tokens do not', async () => {
  const body = JSON.stringify({ model: 'echo', messages: [{ role: 'user', content: 'hi' }] });
  const ok = await gw('/v1/chat/completions', { authorization: `Bearer ${await issuer.mint({ sub: 'alice', groups: ['ml'] })}` }, body);
  assert.equal(ok.status, 200, ok.text);
  const bob = await gw('/v1/chat/completions', { authorization: `Bearer ${await issuer.mint({ sub: 'bob' })}` }, body);
  assert.equal(bob.json.error?.code, 'WARDEN_AUTHZ_DENIED');
  const expired = await gw('/v1/chat/completions', { authorization: `Bearer ${await issuer.mint({ sub: 'alice' }, { exp: Math.floor(Date.now() / 1000) - 600 })}` }, body);
  assert.equal(expired.status, 401);
  assert.equal(expired.json.error?.code, 'WARDEN_AUTHN_TOKEN_EXPIRED');
  const aud = await gw('/v1/chat/completions', { authorization: `Bearer ${await issuer.mint({ sub: 'alice' }, { aud: 'someone-else' })}` }, body);
  assert.equal(aud.status, 401);
  assert.equal(aud.json.error?.code, 'WARDEN_AUTHN_TOKEN_AUDIENCE');
  const good = await issuer.mint({ sub: 'alice' });
  const forged = good.slice(0, -6) + (good.endsWith('AAAAAA') ? 'BBBBBB' : 'AAAAAA');
  const bad = await gw('/v1/chat/completions', { authorization: `Bearer ${forged}` }, body);
  assert.equal(bad.status, 401);
});

test('an mTLS client with a Warden SVID is a Service principal; a revoked SVID is rejected', async () => {
  const key = createWorkloadKey();
  const spiffeId = 'spiffe://warden.local/ns/ml/sa/trainer';
  const issued = await admin('POST', '/api/v1/identity/issue', { csr: key.csrPem, spiffeId });
  assert.equal(issued.status, 200, JSON.stringify(issued.json));
  const mtls = new Agent({ connect: { ca, cert: issued.json.chainPem as string, key: key.keyPem } });
  const call = async (headers: Record<string, string> = {}) => {
    const r = await request(warden.ready.gatewayUrl + '/v2/models/iris/infer', { method: 'POST', dispatcher: mtls, headers: { 'content-type': 'application/json', ...headers }, body: irisInferBody([[5, 3.4, 1.5, 0.2]]) });
    return { status: r.statusCode, json: (await r.body.json()) as { error?: { code: string } } };
  };
  // New connections each time: the client offers to resume its TLS session, which would give the
  // gateway the leaf without its chain; the listener does not resume, so each one verifies.
  for (let i = 0; i < 3; i++) {
    const fresh = await call({ connection: 'close' });
    assert.equal(fresh.status, 200, `connection ${i + 1}: ${JSON.stringify(fresh.json)}`);
  }
  const ok = await call();
  assert.equal(ok.status, 200, JSON.stringify(ok.json));
  assert.equal((await admin('POST', '/api/v1/identity/revoke', { spiffeId, reason: 'test' })).status, 200);
  const denied = await call();
  assert.equal(denied.json.error?.code, 'WARDEN_IDENTITY_REVOKED', 'the already-open keep-alive connection is re-checked against the revocation list');
  assert.equal(denied.status, 403);
  await mtls.close();
});

test('a key principal that is not a Cedar entity is refused at creation, and the gateway keeps serving', async () => {
  for (const principal of ['User::"a\\qb"', 'User::"a\\tb"', 'User::alice', 'User::"a"b"']) {
    const r = await admin('POST', '/api/v1/keys', { name: 'bad-principal', principal, scopes: ['model:echo'] });
    assert.equal(r.status, 400, `${principal}: ${JSON.stringify(r.json)}`);
    assert.equal((r.json as { error?: { code: string } }).error?.code, 'WARDEN_INPUT_INVALID');
  }
  const body = JSON.stringify({ model: 'echo', messages: [{ role: 'user', content: 'x' }] });
  const ok = await gw('/v1/chat/completions', { authorization: `Bearer ${warden.ready.demoKey}` }, body);
  assert.equal(ok.status, 200, ok.text);
});

test('rate limits answer 429 with retry-after and audit the denial', async () => {
  const created = await admin('POST', '/api/v1/keys', { name: 'limited', scopes: ['model:echo'] });
  const key = created.json.key as string;
  const body = JSON.stringify({ model: 'echo', messages: [{ role: 'user', content: 'x' }] });
  const statuses: number[] = [];
  let limited: Awaited<ReturnType<typeof gw>> | null = null;
  for (let i = 0; i < 4; i++) {
    const r = await gw('/v1/chat/completions', { authorization: `Bearer ${key}` }, body);
    statuses.push(r.status);
    if (r.status === 429) limited ??= r;
  }
  assert.deepEqual(statuses.slice(0, 2), [200, 200]);
  assert.ok(limited, `expected a 429 after the burst, got ${statuses}`);
  assert.equal(limited.json.error?.code, 'WARDEN_GATEWAY_RATE_LIMITED');
  assert.ok(Number(limited.headers['retry-after']) >= 1);
});

test('Cedar at the gateway: a forbid on classification overrides a permit, data residency by region, explained in the audit record', async () => {
  const body = JSON.stringify({ model: 'echo', messages: [{ role: 'user', content: 'x' }] });
  const allowed = await gw('/v1/chat/completions', { authorization: `Bearer ${warden.ready.demoKey}` }, body);
  assert.equal(allowed.status, 200, allowed.text);
  const restricted = await gw('/v1/chat/completions', { authorization: `Bearer ${warden.ready.demoKey}`, 'x-warden-data-classification': 'restricted' }, body);
  assert.equal(restricted.status, 403);
  assert.equal(restricted.json.error?.code, 'WARDEN_AUTHZ_DENIED');
  // This gateway runs in eu-west-1, so the residency forbid does not apply here…
  const iris = await gw('/v2/models/iris/infer', { authorization: `Bearer ${warden.ready.demoKey}` }, irisInferBody([[5.1, 3.5, 1.4, 0.2]]));
  assert.equal(iris.status, 200, iris.text);
  // …and the same request from a us-east-1 PEP is denied by it (explained by the control plane).
  const explain = await admin('POST', '/api/v1/policies/explain', {
    principal: 'ApiKey::"demo"',
    action: 'Action::"invoke"',
    resource: 'Model::"iris"',
    context: { region: 'us-east-1', classification: 'internal', mfa: false, sourceIp: { __extn: { fn: 'ip', arg: '127.0.0.1' } }, time: Math.floor(Date.now() / 1000) },
  });
  assert.equal(explain.status, 200, JSON.stringify(explain.json));
  const text = JSON.stringify(explain.json);
  assert.match(text, /"deny"/);
  assert.match(text, /eu-residency-iris/);
});

test('gateway.bodyTimeoutSeconds: a body still arriving after the deadline gets 408 and the connection is closed', async () => {
  const { port } = new URL(warden.ready.gatewayUrl);
  const started = Date.now();
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: Number(port), ca, ALPNProtocols: ['http/1.1'] }, () => {
      // 5 of the 100 bytes announced, then nothing.
      socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer ${warden.ready.demoKey}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"mod`);
    });
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.once('end', () => resolve(text));
    socket.once('error', reject);
    setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer and no close within 10 s (got ${JSON.stringify(text)})`));
    }, 10_000).unref();
  });
  assert.match(answer, /^HTTP\/1\.1 408 /);
  assert.match(answer, /"code":"WARDEN_GATEWAY_BODY_TIMEOUT"/);
  assert.ok(Date.now() - started >= 900, 'not before the configured second');
});

test('invalid requests get 400 naming the field', async () => {
  const r = await gw('/v1/chat/completions', { authorization: `Bearer ${warden.ready.demoKey}` }, JSON.stringify({ model: 'echo', messages: [{ role: 'wizard', content: 'x' }] }));
  assert.equal(r.status, 400);
  assert.equal(r.json.error?.code, 'WARDEN_GATEWAY_INVALID_REQUEST');
  assert.match(r.text, /messages\[0\]\.role/);
  assert.equal(r.headers['keep-alive'], 'timeout=30', 'gateway.idleTimeoutSeconds reaches the listener');
  const noModel = await gw('/v1/chat/completions', { authorization: `Bearer ${warden.ready.demoKey}` }, '{}');
  assert.equal(noModel.status, 400);
  assert.equal(noModel.json.error?.code, 'WARDEN_GATEWAY_INVALID_REQUEST', 'a missing model is refused like any other bad field');
  assert.match(noModel.text, /"message":"model: is required"/);
  // Parsers disagree on which duplicate wins: refused, so authorization and the model server see the same model.
  const twice = await gw('/v1/chat/completions', { authorization: `Bearer ${warden.ready.demoKey}` }, '{"model":"stall","messages":[{"role":"user","content":"x"}],"model":"echo"}');
  assert.equal(twice.status, 400);
  assert.equal(twice.json.error?.code, 'WARDEN_GATEWAY_BAD_JSON');
  assert.match(twice.text, /the key \\"model\\" appears twice/, 'a protocol field is named');
  assert.doesNotMatch(twice.text, /stall/, 'values are not repeated');
  const secretKey = await gw('/v1/chat/completions', { authorization: `Bearer ${warden.ready.demoKey}` }, '{"model":"echo","messages":[{"role":"user","content":"x"}],"metadata":{"sk-live-abc":"1","sk-live-abc":"2"}}');
  assert.equal(secretKey.status, 400);
  assert.match(secretKey.text, /an object key appears twice/, 'any other key is not named: it is client text');
  assert.doesNotMatch(secretKey.text, /sk-live/i);
});

test('anonymous callers learn nothing about the body: bad JSON or a missing model is 401, not 400', async () => {
  for (const body of ['{"model": [}', '{}', JSON.stringify({ model: 'echo', messages: [{ role: 'wizard', content: 'x' }] })]) {
    const r = await gw('/v1/chat/completions', {}, body);
    assert.equal(r.status, 401, body);
    assert.equal(r.json.error?.code, 'WARDEN_AUTHN_MISSING', body);
    const wrongKey = await gw('/v1/chat/completions', { authorization: 'Bearer wdn_unknownprefix_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }, body);
    assert.equal(wrongKey.status, 401, body);
  }
});

test('an upstream that stalls mid-stream ends in a clean error event and the audit record says so', async () => {
  const r = await gw('/v1/chat/completions', { authorization: `Bearer ${warden.ready.demoKey}` }, JSON.stringify({ model: 'stall', stream: true, messages: [{ role: 'user', content: 'x' }] }));
  assert.equal(r.status, 200);
  assert.match(r.text, /data: .*first/);
  assert.match(r.text, /event: error\ndata: .*WARDEN_GATEWAY_UPSTREAM_TIMEOUT/);
});

test('a client that disconnects mid-stream aborts the upstream request', async () => {
  const before_ = tricky.aborted();
  const res = await request(warden.ready.gatewayUrl + '/v1/chat/completions', {
    method: 'POST',
    dispatcher: agent,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${warden.ready.demoKey}` },
    body: JSON.stringify({ model: 'slow', stream: true, messages: [{ role: 'user', content: 'x' }] }),
  });
  for await (const _ of res.body) break;
  res.body.destroy();
  const deadline = Date.now() + 5000;
  while (tricky.aborted() === before_ && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(tricky.aborted(), before_ + 1, 'the upstream saw its request closed before it finished');
});

test('the audit log records the stream failures and client disconnects with their codes', async () => {
  await warden.stop();
  const records = await readAuditRecords(dataDir);
  assert.ok(records.some((r) => r.model === 'stall' && r.code === 'WARDEN_GATEWAY_UPSTREAM_TIMEOUT'));
  assert.ok(records.some((r) => r.model === 'slow' && r.code === 'WARDEN_GATEWAY_CLIENT_CLOSED'));
  assert.ok(records.some((r) => r.code === 'WARDEN_GATEWAY_RATE_LIMITED' && r.decision === 'deny'));
  assert.ok(records.some((r) => r.principal === 'User::"alice"' && r.decision === 'allow' && r.policies?.includes('alice-echo')));
  assert.ok(records.some((r) => r.principal?.startsWith('Service::"spiffe://') && r.decision === 'allow'));
  assert.ok(records.some((r) => r.model === 'echo' && r.code === 'WARDEN_AUTHZ_DENIED' && r.policies?.includes('no-restricted-echo')), 'the deny names the forbid that decided it');
  assert.ok(records.some((r) => r.model === 'iris' && r.decision === 'allow' && r.policies?.includes('demo-invoke-iris')));
});
