import { EventEmitter } from 'node:events';
import Fastify, { type FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { WardenError, toWardenError } from '../errors/index.js';
import type { SnapshotHolder } from '../gateway/index.js';
import { KeyUsageRecorder } from './KeyUsageRecorder.js';
import { jsonDeeperThan, MAX_ADMIN_JSON_DEPTH } from './jsonDepth.js';
import { SnapshotPublisher } from './SnapshotPublisher.js';
import { followReplicaChanges } from './replicaChanges.js';
import { pepRoutes } from './routes/pep.js';
import { registerConsole } from './console.js';
import type { ControlPlaneContext } from './ControlPlaneContext.js';
import { installAdminAuth } from './adminAuth.js';
import { listenError } from './listenError.js';
import { advertisedHttpsUrl } from './advertisedUrl.js';
import { registerRoutes, metricsRoutes } from './routes/index.js';

export interface ControlPlaneTls {
  certPem: string;
  keyPem: string;
  caPem: string;
}

export interface StartControlPlaneOptions {
  /** Shared with the rest of the process (identity memoises its CA per context). */
  ctx: ControlPlaneContext;
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
  const ctx = options.ctx;

  const publisher = new SnapshotPublisher(ctx);
  // Other replicas on the same PostgreSQL: their changes reach this one's PEPs within seconds.
  const replicas = followReplicaChanges(ctx, publisher);
  // A failed first build is logged and retried by the publisher; /readyz says not-ready until then.
  await publisher.rebuild().catch(() => undefined);
  const snapshots = publisher.holder;
  const keyUsage = new KeyUsageRecorder(ctx.db, ctx.logger);
  ctx.events.on('gateway.decision', keyUsage.onDecision);

  const requestTimeout = ctx.config.server.requestTimeoutSeconds * 1000;
  // Node checks request deadlines every connectionsCheckingInterval (30 s by default), so a short
  // deadline needs a shorter interval to be kept.
  const listenerLimits = { headersTimeout: Math.min(60_000, requestTimeout), connectionsCheckingInterval: Math.min(5_000, requestTimeout) };
  const app = Fastify({
    logger: false,
    bodyLimit: 1024 * 1024,
    requestTimeout,
    genReqId: () => crypto.randomUUID(),
    ...(options.tls
      ? { https: { cert: options.tls.certPem, key: options.tls.keyPem, ca: options.tls.caPem, minVersion: 'TLSv1.2' as const, requestCert: true, rejectUnauthorized: false, ...listenerLimits } }
      : { http: listenerLimits }),
  });
  app.server.maxConnections = ctx.config.server.maxConnections;
  app.setErrorHandler((err, request, reply) => {
    const fastifyErr = err as { statusCode?: number; code?: string; validation?: unknown; message: string };
    let e: WardenError;
    if (err instanceof WardenError) e = err;
    else if (fastifyErr.code === 'FST_ERR_CTP_BODY_TOO_LARGE') e = new WardenError('WARDEN_GATEWAY_BODY_TOO_LARGE', 'request body is too large');
    else if (fastifyErr.statusCode === 400) e = new WardenError('WARDEN_INPUT_INVALID', fastifyErr.message);
    else {
      ctx.logger.error({ err, url: request.url }, 'admin API error');
      e = toWardenError(err);
    }
    void reply.code(e.status).header('x-warden-request-id', request.id).send(errorBody(e, request.id));
  });
  // JSON bodies: Fastify's own parser (prototype poisoning refused), after a nesting check.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (jsonDeeperThan(body as string, MAX_ADMIN_JSON_DEPTH)) return done(new WardenError('WARDEN_INPUT_INVALID', `JSON nesting deeper than ${MAX_ADMIN_JSON_DEPTH} levels`), undefined);
    parseJson(request, body as string, done);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(errorBody(new WardenError('WARDEN_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`), request.id));
  });
  // Fastify's close ends idle keep-alive connections once, at its start: a connection whose
  // request was in flight then (a gateway's audit batch, a bundle fetch) stayed open until its
  // keep-alive timeout (72 s) and held the shutdown, and the audit flush behind it, that long.
  let shuttingDown = false;
  let sweep: NodeJS.Timeout | undefined;
  app.addHook('preClose', async () => {
    shuttingDown = true;
    sweep = setInterval(() => app.server.closeIdleConnections(), 100).unref();
  });
  app.addHook('onClose', async () => clearInterval(sweep));
  app.addHook('onSend', async (request, reply) => {
    // A change is answered only once the local PEP snapshot includes it ("enforced at once"); a
    // change whose snapshot could not be built is answered with that error, not as done. Only the
    // request that announced the change (emit('snapshot:changed', request)) gets that error.
    let replaced: string | undefined;
    if (request.method !== 'GET') {
      try {
        await publisher.settled(request);
      } catch (err) {
        // Fastify answers errors thrown here in its own format: write ours. A failed request keeps
        // its own error; a gateway's own calls (audit batches, alarms) would only be resent.
        if (reply.statusCode < 400 && request.adminRole !== 'pep') {
          const e = toWardenError(err);
          reply.code(e.status).header('content-type', 'application/json; charset=utf-8');
          replaced = JSON.stringify(errorBody(e, request.id));
        }
      }
    }
    reply.header('x-warden-request-id', request.id);
    reply.header('cache-control', 'no-store');
    // Refused before its body was read (no token, too large): close rather than read the rest,
    // so a client without a token cannot keep the connection busy with a slow body. While
    // shutting down, no connection is kept for another request.
    if (!request.raw.complete || shuttingDown) reply.header('connection', 'close');
    return replaced;
  });

  app.get('/healthz', { config: { public: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config: { public: true } }, async (_req, reply) => {
    const snap = snapshots.current();
    const ready = snap !== null && snap.expiresAt > Date.now();
    reply.code(ready ? 200 : 503);
    return { status: ready ? 'ok' : 'not-ready', snapshotVersion: snap?.version ?? null };
  });

  // Prometheus scrapes /metrics without the admin token (guarded by observe.metricsToken when set,
  // and refused without one unless this listener is on loopback).
  await app.register(async (root) => metricsRoutes(root, ctx));

  await app.register(
    async (api) => {
      installAdminAuth(api, ctx);
      api.get('/status', async () => ({
        version: '0.1.0',
        store: ctx.db.kind,
        snapshotVersion: snapshots.current()?.version ?? null,
        auditQueueDepth: ctx.audit.queueDepth,
        peps: publisher.peps.list(),
        uptimeSeconds: Math.round(process.uptime()),
        ...(options.status?.() ?? {}),
      }));
      await registerRoutes(api, ctx);
      await pepRoutes(api, ctx, publisher);
    },
    { prefix: '/api/v1' },
  );

  await registerConsole(app);
  const { host: listenHost, port: listenPort } = ctx.config.server;
  try {
    await app.listen({ host: listenHost, port: listenPort });
  } catch (err) {
    await replicas.close();
    publisher.close();
    ctx.events.off('gateway.decision', keyUsage.onDecision);
    await keyUsage.close();
    await app.close().catch(() => undefined);
    throw listenError(err, { listener: 'admin API', host: listenHost, port: listenPort, portFlag: '--port-admin N (warden up, warden server)', portKey: 'server.port' });
  }
  const port = (app.server.address() as AddressInfo).port;
  const host = ctx.config.server.host.includes(':') ? `[${ctx.config.server.host}]` : ctx.config.server.host;
  return {
    // The listener certificate names server.hostnames: the URL must be one of them (see advertisedHttpsUrl).
    url: options.tls ? advertisedHttpsUrl(ctx.config.server.host, port, ctx.config.server.hostnames) : `http://${host}:${port}`,
    port,
    app,
    ctx,
    snapshots,
    async close(): Promise<void> {
      await replicas.close();
      publisher.close();
      ctx.events.off('gateway.decision', keyUsage.onDecision);
      await keyUsage.close();
      await app.close();
    },
  };
}

/** The context every admin route receives; create it once per process. */
export function createControlPlaneContext(parts: Omit<ControlPlaneContext, 'events'>): ControlPlaneContext {
  const events = new EventEmitter();
  events.setMaxListeners(100);
  return { ...parts, events };
}
