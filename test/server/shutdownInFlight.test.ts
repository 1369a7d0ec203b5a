// Shutdown with an admin/PEP request in flight: the connection it came on must not hold the
// control plane open for its keep-alive timeout (72 s), and with it the audit log's last flush.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/observe/index.js';
import { startWarden } from '../../src/server/index.js';
import { removeDir, tempDataDir } from '../helpers/warden.js';

test('a request in flight at shutdown is answered (connection: close) and the control plane closes at once, not after the keep-alive timeout', async (t) => {
  const dataDir = tempDataDir('warden-shutdown-inflight-');
  t.after(() => removeDir(dataDir));
  const config = loadConfig({ dataDir, env: {}, overrides: { 'server.port': 0 } });
  const warden = await startWarden({ config, logger: createLogger({ level: 'silent' }), demo: false, gateway: false });
  let closed = false;
  t.after(async () => {
    if (!closed) await warden.close();
  });
  // Hold the key creation's audit append, so the request is in flight when the shutdown starts.
  const audit = warden.controlPlane.ctx.audit;
  const append = audit.append.bind(audit);
  let release: () => void = () => {};
  const held = new Promise<void>((r) => (release = r));
  let holding = false;
  audit.append = async (record) => {
    if (record.action === 'keys.create' && !holding) {
      holding = true;
      await held;
    }
    return append(record);
  };
  const agent = new Agent({ connect: { ca: readFileSync(warden.ready.caBundle, 'utf8'), servername: 'localhost' }, keepAliveTimeout: 600_000 });
  t.after(() => agent.close());
  const answer = request(`${warden.ready.adminUrl}/api/v1/keys`, {
    method: 'POST',
    dispatcher: agent,
    headers: { authorization: `Bearer ${warden.ready.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'in-flight', scopes: ['model:iris'] }),
  });
  const deadline = Date.now() + 10_000;
  while (!holding) {
    assert.ok(Date.now() < deadline, 'the key creation reached its audit append');
    await new Promise((r) => setTimeout(r, 20));
  }
  const started = Date.now();
  const closing = warden.close().then(() => (closed = true));
  await new Promise((r) => setTimeout(r, 200)); // the shutdown has begun
  release();
  const res = await answer;
  await res.body.text();
  assert.equal(res.statusCode, 201, 'the request in flight is answered');
  assert.equal(res.headers.connection, 'close', 'and told the connection will not be kept');
  await closing;
  const took = Date.now() - started;
  assert.ok(took < 15_000, `closed in ${took} ms (the keep-alive timeout is 72 s)`);
});
