import { EventEmitter } from 'node:events';
import { createServer, type Server, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { createWorkloadKey, type CertificateAuthority, type SvidMaterial, type SvidSource } from '../../../src/identity/index.js';

/** An SVID issued straight from the CA (what an agent would hold), as an SvidSource. */
export class StaticSvidSource extends EventEmitter implements SvidSource {
  constructor(public svid: SvidMaterial) {
    super();
  }
  current(): SvidMaterial {
    return this.svid;
  }
  set(svid: SvidMaterial): void {
    this.svid = svid;
    this.emit('rotated', svid);
  }
}

export async function issueMaterial(ca: CertificateAuthority, spiffeId: string, ttlSeconds?: number): Promise<SvidMaterial> {
  const key = createWorkloadKey();
  const s = await ca.issueX509SvidFromCsr(key.csrPem, { spiffeId, ttlSeconds });
  return { spiffeId: s.spiffeId, serial: s.serial, chainPem: s.chainPem, keyPem: key.keyPem, bundlePem: s.bundlePem, notBefore: s.notBefore, notAfter: s.notAfter };
}

/** A local workload that echoes what the sidecar forwarded. */
export async function startEchoWorkload(): Promise<{ url: string; server: Server; seen: IncomingMessage['headers'][] }> {
  const seen: IncomingMessage['headers'][] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ path: req.url, method: req.method, peer: req.headers['x-warden-peer-spiffe-id'] ?? null, body }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, seen };
}

/**
 * An mTLS client presenting `svid` (keep-alive, one connection). SVIDs name services, not
 * hosts: the server is checked by its SPIFFE ID (URI SAN), not by a DNS name.
 */
export function mtlsClient(svid: { chainPem: string; keyPem: string; bundlePem: string }, expectServer = 'spiffe://warden.local/'): Agent {
  return new Agent({
    connect: {
      cert: svid.chainPem,
      key: svid.keyPem,
      ca: svid.bundlePem,
      minVersion: 'TLSv1.2',
      servername: 'localhost',
      checkServerIdentity: (_host: string, cert: { subjectaltname?: string }) =>
        (cert.subjectaltname ?? '').includes(`URI:${expectServer}`) ? undefined : new Error(`server is not ${expectServer}`),
    },
    connections: 1,
    pipelining: 1,
  });
}

export async function call(agent: Agent, url: string, method = 'GET', body?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await request(url, { method: method as 'GET', dispatcher: agent, body, headers: { 'x-warden-peer-spiffe-id': 'spiffe://warden.local/spoofed' } });
  const text = await res.body.text();
  return { status: res.statusCode, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}
