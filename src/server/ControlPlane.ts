import { EventEmitter } from 'node:events';
import Fastify, { type FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { WardenError, toWardenError } from '../errors/index.js';
import type { LoadedConfig } from '../config/index.js';
import type { Database } from '../store/index.js';
import type { AuditLog } from '../audit/index.js';
import type { Logger } from '../observe/index.js';
import { SnapshotHolder } from '../gateway/index.js';
import type { ControlPlaneContext } from './ControlPlaneContext.js';
import { installAdminAuth } from './adminAuth.js';
import { buildSnapshot, SNAPSHOT_TTL_MS } from './snapshotBuilder.js';
import { registerRoutes, metricsRoutes } from './routes/index.js';

export interface ControlPlaneTls {
  certPem: string;
  keyPem: string;
  caPem: string;
}

export interface StartControlPlaneOptions {
  config: LoadedConfig;
  db: Database;
  audit: AuditLog;
  logger: Logger;
  serverSecret: Uint8Array;
  tls: ControlPlaneTls | null;
  /** Extra fields for GET /api/v1/status (gateway URL, in-flight requests…). */
  status?: () => Record<string, unknown>;
}

export interface RunningControlPlane {
  url: string;
  port: number;
  app: FastifyInstance;
  ctx: ControlPlaneContext;
  /** The PEP snapshot, rebuilt on every 'snapshot:changed' event and refreshed before its TTL. */
  snapshots: SnapshotHolder;
  close(): Promise<void>;
}

function errorBody(err: WardenError, requestId: string) {
  return { error: { code: err.code, message: err.message, requestId } };
}

export async function startControlPlane(options: StartControlPlaneOptions): Promise<RunningControlPlane> {
  const events = new EventEmitter();
  events.setMaxListeners(100);
  const ctx: ControlPlaneContext = {
    config: options.config,
    db: options.db,
    audit: options.audit,
    logger: options.logger,
    serverSecret: options.serverSecret,
    events,
  };

  const snapshots = new SnapshotHolder();
  let version = 0;
  let rebuilding: Promise<void> | null = null;
  let again = false;
  const rebuild = async (): Promise<void> => {
    if (rebuilding) {
      again = true;
      return rebuilding;
    }
    rebuilding = (async () => {
      do {
        again = false;
        try {
          snapshots.update(await buildSnapshot(ctx, ++version));
        } catch (err) {
          options.logger.error({ err: toWardenError(err).code }, 'snapshot rebuild failed; PEPs keep the last one until its TTL');
        }
      } while (again);
    })();
    try {
      await rebuilding;
    } finally {
      rebuilding = null;
    }
  };
  let latestRebuild: Promise<void> = Promise.resolve();
  events.on('snapshot:changed', () => {
    latestRebuild = rebuild();
  });
  await rebuild();
  const refresh = setInterval(() => void rebuild(), Math.floor(SNAPSHOT_TTL_MS / 3));
  refresh.unref();

  const app = Fastify({
    logger: false,
    bodyLimit: 1024 * 1024,
    genReqId: () => crypto.randomUUID(),
    ...(options.tls
      ? { https: { cert: options.tls.certPem, key: options.tls.keyPem, ca: options.tls.caPem, minVersion: 'TLSv1.2' as const, requestCert: true, rejectUnauthorized: false } }
      : {}),
  });
  app.setErrorHandler((err, request, reply) => {
    const fastifyErr = err as { statusCode?: number; code?: string; validation?: unknown; message: string };
    let e: WardenError;
    if (err instanceof WardenError) e = err;
    else if (fastifyErr.code === 'FST_ERR_CTP_BODY_TOO_LARGE') e = new WardenError('WARDEN_GATEWAY_BODY_TOO_LARGE', 'request body is too large');
    else if (fastifyErr.statusCode === 400) e = new WardenError('WARDEN_INPUT_INVALID', fastifyErr.message);
    else {
      options.logger.error({ err, url: request.url }, 'admin API error');
      e = toWardenError(err);
    }
    void reply.code(e.status).header('x-warden-request-id', request.id).send(errorBody(e, request.id));
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(errorBody(new WardenError('WARDEN_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`), request.id));
  });
  app.addHook('onSend', async (request, reply) => {
    // A change is answered only once the local PEP snapshot includes it ("enforced at once").
    if (request.method !== 'GET') await latestRebuild;
    reply.header('x-warden-request-id', request.id);
    reply.header('cache-control', 'no-store');
  });

  app.get('/healthz', { config: { public: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config: { public: true } }, async (_req, reply) => {
    const snap = snapshots.current();
    const ready = snap !== null && snap.expiresAt > Date.now();
    reply.code(ready ? 200 : 503);
    return { status: ready ? 'ok' : 'not-ready', snapshotVersion: snap?.version ?? null };
  });

  // Prometheus scrapes /metrics without the admin token (guarded by observe.metricsToken when set).
  await app.register(async (root) => metricsRoutes(root, ctx));

  await app.register(
    async (api) => {
      installAdminAuth(api, ctx);
      api.get('/status', async () => ({
        version: '0.1.0',
        store: options.db.kind,
        snapshotVersion: snapshots.current()?.version ?? null,
        auditQueueDepth: options.audit.queueDepth,
        uptimeSeconds: Math.round(process.uptime()),
        ...(options.status?.() ?? {}),
      }));
      await registerRoutes(api, ctx);
    },
    { prefix: '/api/v1' },
  );

  await app.listen({ host: options.config.server.host, port: options.config.server.port });
  const port = (app.server.address() as AddressInfo).port;
  const host = options.config.server.host.includes(':') ? `[${options.config.server.host}]` : options.config.server.host;
  return {
    url: `${options.tls ? 'https' : 'http'}://${host}:${port}`,
    port,
    app,
    ctx,
    snapshots,
    async close(): Promise<void> {
      clearInterval(refresh);
      await app.close();
    },
  };
}
