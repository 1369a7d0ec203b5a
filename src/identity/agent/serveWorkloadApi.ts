import { createServer, type Server } from 'node:http';
import { chmodSync, rmSync } from 'node:fs';
import { isWardenError } from '../../errors/index.js';
import type { WorkloadAgent } from './WorkloadAgent.js';

/**
 * Local Workload API over a Unix socket (mode 0600: only the workload's user can ask).
 * GET /v1/svid → { spiffeId, chainPem, keyPem, bundlePem, notAfter }; GET /v1/bundle → PEM;
 * GET /v1/jwt?audience=… → { token, expiresAt }; GET /healthz.
 */
export async function serveWorkloadApi(agent: WorkloadAgent, socketPath: string): Promise<{ close(): Promise<void> }> {
  rmSync(socketPath, { force: true });
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (status: number, body: unknown, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(type === 'application/json' ? JSON.stringify(body) : String(body));
    };
    if (req.method !== 'GET') return send(405, { error: { code: 'WARDEN_USAGE', message: 'GET only' } });
    const svid = agent.current();
    if (url.pathname === '/healthz') return send(svid ? 200 : 503, { ready: !!svid });
    if (!svid) return send(503, { error: { code: 'WARDEN_IDENTITY_AGENT_NOT_READY', message: 'the agent holds no valid SVID' } });
    if (url.pathname === '/v1/svid') {
      return send(200, { spiffeId: svid.spiffeId, serial: svid.serial, chainPem: svid.chainPem, keyPem: svid.keyPem, bundlePem: svid.bundlePem, notAfter: svid.notAfter.toISOString() });
    }
    if (url.pathname === '/v1/bundle') return send(200, svid.bundlePem, 'application/x-pem-file');
    if (url.pathname === '/v1/jwt') {
      const audience = url.searchParams.getAll('audience');
      agent.fetchJwtSvid(audience).then(
        (jwt) => send(200, jwt),
        (err: unknown) => send(isWardenError(err) ? err.status : 500, { error: { code: isWardenError(err) ? err.code : 'WARDEN_INTERNAL', message: isWardenError(err) ? err.message : 'internal error' } }),
      );
      return;
    }
    send(404, { error: { code: 'WARDEN_NOT_FOUND', message: 'unknown path' } });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // The socket is created 0600: a chmod after listen() leaves a window in which another local
    // user could connect, and a connection accepted then keeps working (it serves the private
    // key). bind() runs synchronously inside listen(), so the umask covers exactly that call.
    const previous = process.umask(0o177);
    try {
      server.listen(socketPath, () => resolve());
    } finally {
      process.umask(previous);
    }
  });
  chmodSync(socketPath, 0o600);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        rmSync(socketPath, { force: true });
      }),
  };
}
