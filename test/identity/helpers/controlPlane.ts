import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { loadConfig, type LoadedConfig } from '../../../src/config/index.js';
import { openStore, type Database } from '../../../src/store/index.js';
import { isWardenError } from '../../../src/errors/index.js';
import { openAuditLog, type AuditLog, type AuditRecord } from '../../../src/audit/index.js';
import type { ControlPlaneContext } from '../../../src/server/ControlPlaneContext.js';
import { identityRoutes } from '../../../src/server/routes/identity.js';
import { getAuthority, type CertificateAuthority } from '../../../src/identity/index.js';

export const ADMIN_TOKEN = 'test-admin-token';

/** The real Merkle audit log, with every appended record also kept in memory for assertions. */
export type RecordingAuditLog = AuditLog & { records: AuditRecord[] };

async function openRecordingAuditLog(config: LoadedConfig): Promise<RecordingAuditLog> {
  const real = await openAuditLog({ dataDir: config.dataDir, audit: config.audit });
  const records: AuditRecord[] = [];
  return new Proxy(real, {
    get(target, prop) {
      if (prop === 'records') return records;
      if (prop === 'append') return (r: AuditRecord) => (records.push(r), target.append(r));
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as RecordingAuditLog;
}

export interface TestControlPlane {
  url: string;
  port: number;
  dataDir: string;
  ctx: ControlPlaneContext;
  ca: CertificateAuthority;
  audit: RecordingAuditLog;
  app: FastifyInstance;
  /** Stops the listener only (simulates a control-plane outage; state stays). */
  stopListener(): Promise<void>;
  /** Starts a fresh listener on the same port with the same state. */
  restartListener(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A control plane shaped like the lead's admin API: Fastify over TLS with a certificate from
 * Warden's CA, client certificates requested but not required, admin bearer token on every
 * route unless `config.public`, WardenError → { error: { code, message } }.
 */
export async function startControlPlane(options: { dataDir?: string; identity?: Record<string, unknown>; db?: Database; port?: number } = {}): Promise<TestControlPlane> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'warden-id-cp-'));
  const config: LoadedConfig = loadConfig({ dataDir, env: {}, cwd: dataDir, overrides: options.identity ? { identity: options.identity } : {} });
  const db = options.db ?? (await openStore({}));
  const audit = await openRecordingAuditLog(config);
  const ctx: ControlPlaneContext = {
    config,
    db,
    audit,
    logger: pino({ level: 'silent' }),
    serverSecret: new Uint8Array(32).fill(7),
    events: new EventEmitter(),
  };
  const ca = await getAuthority(ctx);
  const tls = await ca.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  let port = options.port ?? 0;

  async function build(): Promise<FastifyInstance> {
    const app = Fastify({
      https: { key: tls.keyPem, cert: tls.chainPem, ca: ca.bundlePem(), requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' },
      logger: false,
      forceCloseConnections: true,
    });
    app.addHook('onRequest', async (request, reply) => {
      if ((request.routeOptions.config as { public?: boolean }).public) return;
      if (request.headers.authorization !== `Bearer ${ADMIN_TOKEN}`) {
        reply.code(401).send({ error: { code: 'WARDEN_AUTHN_ADMIN_REQUIRED', message: 'admin token required' } });
        return reply;
      }
      (request as unknown as { adminId: string }).adminId = 'adm_test';
    });
    app.setErrorHandler((err, _request, reply) => {
      if (isWardenError(err)) return reply.code(err.status).send({ error: { code: err.code, message: err.message } });
      const status = (err as { statusCode?: number }).statusCode ?? 500;
      return reply.code(status).send({ error: { code: status === 413 ? 'WARDEN_INPUT_INVALID' : 'WARDEN_INTERNAL', message: status < 500 ? (err as Error).message : 'internal error' } });
    });
    await app.register(async (scope) => identityRoutes(scope, ctx), { prefix: '/api/v1' });
    await app.listen({ host: '127.0.0.1', port });
    port = (app.server.address() as AddressInfo).port;
    return app;
  }

  const cp: TestControlPlane = {
    url: '',
    port: 0,
    dataDir,
    ctx,
    ca,
    audit,
    app: await build(),
    async stopListener() {
      await cp.app.close();
    },
    async restartListener() {
      cp.app = await build();
    },
    async close() {
      await cp.app.close().catch(() => undefined);
      await ca.close();
      await audit.close();
      if (!options.db) await db.close();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  cp.port = port;
  cp.url = `https://127.0.0.1:${port}`;
  return cp;
}

export function tempDir(prefix = 'warden-id-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
