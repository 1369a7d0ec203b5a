import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { removeDir, tempDataDir, wardenBin } from '../helpers/warden.js';
import { issueMaterial, startEchoWorkload, mtlsClient, call } from '../identity/helpers/workloads.js';
import { loadOrCreateAuthority } from '../../src/identity/index.js';

const MODEL = 'spiffe://warden.local/env/prod/svc/model';
const API = 'spiffe://warden.local/env/prod/svc/api';

/** A local port nothing listens on (taken, then released). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

test('warden gateway --mode sidecar with its control plane unreachable starts, answers 503 (fail closed) and keeps running', async (t) => {
  const dataDir = tempDataDir('warden-sidecar-cli-');
  t.after(() => removeDir(dataDir));
  const ca = await loadOrCreateAuthority({ dataDir: join(dataDir, 'cp'), trustDomain: 'warden.local' });
  t.after(() => ca.close());
  // What `warden agent --out` would have written.
  const svidDir = join(dataDir, 'svid');
  mkdirSync(svidDir);
  const model = await issueMaterial(ca, MODEL);
  writeFileSync(join(svidDir, 'svid.pem'), model.chainPem);
  writeFileSync(join(svidDir, 'svid.key'), model.keyPem, { mode: 0o600 });
  writeFileSync(join(svidDir, 'bundle.pem'), model.bundlePem);
  const echo = await startEchoWorkload();
  t.after(() => echo.server.close());
  const config = join(dataDir, 'warden.yaml');
  writeFileSync(
    config,
    [
      'server:',
      '  trustDomain: warden.local',
      'identity:',
      '  sidecar:',
      '    port: 0',
      `    upstreamUrl: ${echo.url}`,
      `    svidDir: ${svidDir}`,
      '    allow:',
      `      - { from: "${API}", to: "${MODEL}", paths: ["/v1/*"], methods: ["GET"] }`,
      '',
    ].join('\n'),
  );

  const controlPlane = `https://127.0.0.1:${await closedPort()}`;
  const proc = spawn(process.execPath, [wardenBin, '--data-dir', dataDir, '--config', config, 'gateway', '--mode', 'sidecar', '--control-plane', controlPlane, '--ready-json'], {
    env: { ...process.env, WARDEN_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  t.after(async () => {
    if (proc.exitCode === null) proc.kill('SIGTERM');
    await exited;
  });
  const ready = await new Promise<{ url: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the sidecar was not ready in time; stderr:\n${stderr}`)), 60_000);
    createInterface({ input: proc.stdout }).once('line', (line) => {
      clearTimeout(timer);
      resolve(JSON.parse(line) as { url: string });
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the sidecar exited with ${code} before it was ready; stderr:\n${stderr}`));
    });
  });

  const client = mtlsClient(await issueMaterial(ca, API));
  t.after(() => client.close());
  for (let i = 0; i < 2; i++) {
    const r = await call(client, ready.url + '/v1/chat');
    assert.equal(r.status, 503, JSON.stringify(r.json));
    assert.equal((r.json.error as { code: string }).code, 'WARDEN_UNAVAILABLE');
    assert.equal(echo.seen.length, 0, 'nothing reached the workload without a revocation list');
    await new Promise((r) => setTimeout(r, 1500));
  }
  assert.equal(proc.exitCode, null, `the sidecar is still running (it retries the stream); stderr:\n${stderr}`);
});
