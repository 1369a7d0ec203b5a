import { WardenError, toWardenError } from '../errors/index.js';
import type { AuditWriter } from './AuditWriter.js';
import type { Logger } from '../observe/index.js';
import type { RequestContext, GatewayRequest, GatewayResponse } from './RequestContext.js';
import type { UpstreamPool } from './UpstreamPool.js';
import { receive, type ReceiveOptions } from './stages/receive.js';
import { authenticate } from './stages/authenticate.js';
import { authorize, invokeRequest, type AuthorizeOptions } from './stages/authorize.js';
import { forward } from './stages/forward.js';
import { audit } from './stages/audit.js';
import { sendError } from './GatewayServer.js';
import type { SnapshotHolder } from './PepSnapshot.js';

export interface PipelineOptions {
  upstreams: UpstreamPool;
  audit: AuditWriter;
  serverSecret: Uint8Array;
  receive: ReceiveOptions;
  authorize: AuthorizeOptions;
  auditBackpressureDepth: number;
  logger: Logger;
  snapshots?: SnapshotHolder;
}

function overheadMs(ctx: RequestContext): number {
  return Number(process.hrtime.bigint() - ctx.startNs - ctx.upstreamNs) / 1e6;
}

function sendJson(ctx: RequestContext, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  ctx.status = status;
  ctx.res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-warden-request-id': ctx.requestId,
    'x-warden-overhead-ms': overheadMs(ctx).toFixed(3),
  });
  ctx.res.end(text);
  ctx.responded = true;
}

/** Answers routes the gateway serves itself (model list filtered by policy, server health). */
function answerLocally(ctx: RequestContext, upstreams: UpstreamPool, authz: AuthorizeOptions): boolean {
  const kind = ctx.route?.kind;
  if (kind === 'openai.models') {
    const allowed = upstreams
      .knownModels()
      .filter((model) => ctx.snapshot.authorizer.authorize(invokeRequest(ctx, model, authz)).decision === 'allow');
    sendJson(ctx, 200, { object: 'list', data: allowed.map((id) => ({ id, object: 'model', created: 0, owned_by: 'warden' })) });
    return true;
  }
  if (kind === 'oip.server') {
    sendJson(ctx, 200, ctx.path === '/v2' ? { name: 'warden-gateway', version: '1', extensions: [] } : { live: true, ready: true });
    return true;
  }
  return false;
}

/**
 * The gateway's request pipeline, in the fixed order of DESIGN.md:
 * receive → authenticate → authorize → (segment, rate-limit, validate, guard input, admit) →
 * forward → (guard output) → audit → respond. Any stage may end the request with a WardenError.
 */
export async function runPipeline(req: GatewayRequest, res: GatewayResponse, requestId: string, path: string, options: PipelineOptions & { snapshots?: SnapshotHolder }, snapshotOverride?: RequestContext['snapshot']): Promise<void> {
  const ctx: RequestContext = {
    requestId,
    startNs: process.hrtime.bigint(),
    req,
    res,
    method: req.method ?? 'GET',
    path,
    sourceIp: req.socket?.remoteAddress ?? 'unknown',
    snapshot: snapshotOverride as RequestContext['snapshot'],
    route: null,
    body: null,
    json: null,
    principal: null,
    decision: null,
    upstreamNs: 0n,
    status: 0,
    errorCode: null,
    responded: false,
  };
  try {
    if (!ctx.snapshot) {
      const snap = options.snapshots?.current() ?? null;
      if (!snap || snap.expiresAt <= Date.now()) throw new WardenError('WARDEN_GATEWAY_SNAPSHOT_STALE', 'no current policy snapshot; failing closed');
      ctx.snapshot = snap;
    }
    await receive(ctx, options.receive);
    authenticate(ctx, options.serverSecret);
    authorize(ctx, options.authorize);
    if (!answerLocally(ctx, options.upstreams, options.authorize)) {
      await forward(ctx, options.upstreams, () => overheadMs(ctx).toFixed(3));
    }
  } catch (err) {
    const e = toWardenError(err);
    if (e.code === 'WARDEN_INTERNAL') options.logger.error({ err, requestId }, 'unexpected gateway error');
    ctx.status = e.status;
    ctx.errorCode = e.code;
    sendError(ctx, e, overheadMs(ctx).toFixed(3));
    // Drain an unread body so the keep-alive connection stays usable.
    if (!req.readableEnded) req.resume();
  }
  await audit(ctx, options.audit, overheadMs(ctx), options.auditBackpressureDepth);
}
