import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { request, Agent } from 'undici';
import { requireOrSkip, hasCommand } from '../helpers/ci.js';
import { startControlPlane, tempDir, ADMIN_TOKEN } from './helpers/controlPlane.js';
import { StaticSvidSource, issueMaterial, startEchoWorkload } from './helpers/workloads.js';
import { WorkloadAgent, RevocationList } from '../../src/identity/index.js';
import { startSidecar, AllowListAuthorizer } from '../../src/gateway/sidecar/index.js';
import { freePort } from '../helpers/net.js';


async function agentFiles(t: { after(fn: () => unknown): void }, spiffeId: string) {
  const cp = await startControlPlane();
  t.after(() => cp.close());
  const admin = new Agent({ connect: { ca: cp.ca.bundlePem() } });
  const res = await request(cp.url + '/api/v1/identity/tokens', {
    method: 'POST',
    dispatcher: admin,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ spiffeId }),
  });
  const { token } = (await res.body.json()) as { token: string };
  await admin.close();
  const out = tempDir();
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const agent = new WorkloadAgent({ serverUrl: cp.url, bundlePem: cp.ca.bundlePem(), joinToken: token, outDir: out, followRevocations: false });
  await agent.start();
  t.after(() => agent.stop());
  return { cp, out, agent };
}

test('openssl verify accepts an agent-written SVID for client auth (-purpose sslclient)', async (t) => {
  if (!requireOrSkip(t, hasCommand('openssl'), 'openssl')) return;
  const { cp, out } = await agentFiles(t, 'spiffe://warden.local/ns/ml/sa/trainer');
  const svid = join(out, 'svid.pem');
  // svid.pem carries leaf + intermediate (as SPIFFE requires), bundle.pem only the roots.
  const v = spawnSync('openssl', ['verify', '-CAfile', join(out, 'bundle.pem'), '-untrusted', svid, '-purpose', 'sslclient', svid], { encoding: 'utf8' });
  assert.equal(v.status, 0, v.stderr);
  assert.match(v.stdout, /OK/);
  // With a CA file that also carries the intermediate (`warden identity bundle --with-intermediates`), the bare command works.
  writeFileSync(join(out, 'ca-all.pem'), cp.ca.bundlePem() + cp.ca.intermediatePem());
  const bare = spawnSync('openssl', ['verify', '-CAfile', join(out, 'ca-all.pem'), '-purpose', 'sslclient', svid], { encoding: 'utf8' });
  assert.equal(bare.status, 0, bare.stderr);
  // Also valid for server auth, and the URI SAN is the SPIFFE ID.
  assert.equal(spawnSync('openssl', ['verify', '-CAfile', join(out, 'bundle.pem'), '-untrusted', svid, '-purpose', 'sslserver', svid]).status, 0);
  const text = spawnSync('openssl', ['x509', '-in', svid, '-noout', '-ext', 'subjectAltName,basicConstraints,keyUsage,extendedKeyUsage'], { encoding: 'utf8' }).stdout;
  assert.match(text, /URI:spiffe:\/\/warden.local\/ns\/ml\/sa\/trainer/);
  assert.match(text, /CA:FALSE/);
  assert.match(text, /Digital Signature/);
  assert.match(text, /TLS Web Client Authentication/);
  // A self-signed certificate is refused.
  const selfKey = join(out, 'self.key');
  const selfCert = join(out, 'self.pem');
  spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', selfKey, '-out', selfCert, '-subj', '/CN=evil', '-days', '1', '-addext', 'subjectAltName=URI:spiffe://warden.local/ns/ml/sa/trainer']);
  assert.notEqual(spawnSync('openssl', ['verify', '-CAfile', join(out, 'bundle.pem'), '-purpose', 'sslclient', selfCert]).status, 0);
});

test('nginx with ssl_verify_client on and Warden\'s bundle accepts a Warden SVID and rejects a self-signed one', async (t) => {
  if (!requireOrSkip(t, hasCommand('nginx') || hasCommand('/usr/sbin/nginx'), 'nginx')) return;
  const nginxBin = hasCommand('nginx') ? 'nginx' : '/usr/sbin/nginx';
  const { cp, out } = await agentFiles(t, 'spiffe://warden.local/svc/client');
  const dir = tempDir('warden-nginx-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'logs'));
  const server = await cp.ca.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  writeFileSync(join(dir, 'server.pem'), server.chainPem);
  writeFileSync(join(dir, 'server.key'), server.keyPem, { mode: 0o600 });
  const port = await freePort();
  const conf = `
daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate ${dir}/server.pem;
    ssl_certificate_key ${dir}/server.key;
    ssl_client_certificate ${join(out, 'bundle.pem')};
    ssl_verify_client on;
    ssl_verify_depth 3;
    location / { default_type text/plain; return 200 "verify=$ssl_client_verify"; }
  }
}`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const nginx: ChildProcess = spawn(nginxBin, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'logs', 'error.log')], { stdio: 'ignore' });
  t.after(() => {
    nginx.kill('SIGTERM');
  });
  const url = `https://127.0.0.1:${port}/`;
  const client = (cert?: string, key?: string) =>
    new Agent({ connect: { ca: cp.ca.bundlePem(), cert, key, servername: 'localhost' } });
  // Wait for nginx to listen.
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const probe = client();
      const r = await request(url, { dispatcher: probe });
      await r.body.text();
      await probe.close();
      break;
    } catch {
      if (Date.now() > deadline) throw new Error('nginx did not start: ' + readFileSync(join(dir, 'logs', 'error.log'), 'utf8'));
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const good = client(readFileSync(join(out, 'svid.pem'), 'utf8'), readFileSync(join(out, 'svid.key'), 'utf8'));
  const ok = await request(url, { dispatcher: good });
  assert.equal(ok.statusCode, 200);
  assert.equal(await ok.body.text(), 'verify=SUCCESS');
  await good.close();

  spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'self.key'), '-out', join(dir, 'self.pem'), '-subj', '/CN=evil', '-days', '1', '-addext', 'subjectAltName=URI:spiffe://warden.local/svc/client']);
  const evil = client(readFileSync(join(dir, 'self.pem'), 'utf8'), readFileSync(join(dir, 'self.key'), 'utf8'));
  const bad = await request(url, { dispatcher: evil });
  assert.equal(bad.statusCode, 400, 'nginx refuses a certificate that does not chain to the bundle');
  assert.notEqual(await bad.body.text(), 'verify=SUCCESS');
  await evil.close();
  const none = client();
  const anon = await request(url, { dispatcher: none });
  assert.equal(anon.statusCode, 400);
  await anon.body.text();
  await none.close();
});

test("Python's ssl module completes mTLS with the sidecar and sees the sidecar's SPIFFE ID", async (t) => {
  if (!requireOrSkip(t, hasCommand('python3'), 'python3')) return;
  const { cp, out } = await agentFiles(t, 'spiffe://warden.local/env/prod/svc/py-client');
  const echo = await startEchoWorkload();
  t.after(() => echo.server.close());
  const sidecar = await startSidecar({
    trustDomain: 'warden.local',
    identity: new StaticSvidSource(await issueMaterial(cp.ca, 'spiffe://warden.local/env/prod/svc/model')),
    revocations: new RevocationList(),
    authorizer: new AllowListAuthorizer([{ from: 'spiffe://warden.local/env/prod/svc/py-client', to: '*', paths: ['/v1/*'], methods: ['GET'] }]),
    upstreamUrl: echo.url,
  });
  t.after(() => sidecar.close());
  const port = new URL(sidecar.url).port;
  const script = `
import ssl, socket, sys, json
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.check_hostname = False  # SVIDs name services (URI SAN), not hosts; checked below
ctx.minimum_version = ssl.TLSVersion.TLSv1_2
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
with socket.create_connection(("127.0.0.1", int(sys.argv[4]))) as raw:
    with ctx.wrap_socket(raw) as s:
        uris = [v for (k, v) in s.getpeercert()["subjectAltName"] if k == "URI"]
        s.sendall(b"GET " + sys.argv[5].encode() + b" HTTP/1.1\\r\\nHost: model\\r\\nConnection: close\\r\\n\\r\\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
status = data.split(b"\\r\\n", 1)[0].decode()
body = data.split(b"\\r\\n\\r\\n", 1)[1].decode()
print(json.dumps({"status": status, "uris": uris, "version": "ok", "body": body}))
`;
  writeFileSync(join(out, 'client.py'), script);
  // Async spawn: the sidecar runs in this process, so the event loop must keep turning.
  const run = (path: string) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const p = spawn('python3', [join(out, 'client.py'), join(out, 'bundle.pem'), join(out, 'svid.pem'), join(out, 'svid.key'), port, path], { timeout: 20_000 });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d) => (stdout += d));
      p.stderr.on('data', (d) => (stderr += d));
      p.on('close', (status) => resolve({ status, stdout, stderr }));
    });
  const r = await run('/v1/models');
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout) as { status: string; uris: string[]; body: string };
  assert.match(res.status, /200/);
  assert.deepEqual(res.uris, ['spiffe://warden.local/env/prod/svc/model']);
  assert.equal((JSON.parse(res.body.slice(res.body.indexOf('{'), res.body.lastIndexOf('}') + 1)) as { peer: string }).peer, 'spiffe://warden.local/env/prod/svc/py-client');
  const denied = await run('/admin');
  assert.equal(denied.status, 0, denied.stderr);
  assert.match((JSON.parse(denied.stdout) as { status: string }).status, /403/);
});
