import { constants as http2Constants, type Http2ServerRequest } from 'node:http2';
import { WardenError, errorCodes, toWardenError } from '../errors/index.js';
import { NOOP_TRACING, type Logger, type Tracing, type StageSpan } from '../observe/index.js';
import type { RequestContext, GatewayRequest, GatewayResponse } from './RequestContext.js';
import type { UpstreamPool } from './UpstreamPool.js';
import type { AuditWriter } from './AuditWriter.js';
import type { SnapshotHolder, PepSnapshot } from './PepSnapshot.js';
import type { GatewayGuards } from './ResponseGuards.js';
import type { Authenticators, RateLimitPolicy, RequestValidator } from './index-internal.js';
import { RateLimitedError } from './index-internal.js';
import { parseBody, readRequestBody, receive, type ReceiveOptions } from './stages/receive.js';
import { authenticate } from './stages/authenticate.js';
import { authorize, type AuthorizeOptions } from './stages/authorize.js';
import { rateLimit } from './stages/rateLimit.js';
import { admit } from './stages/admit.js';
import { forward, upstreamFor } from './stages/forward.js';
import { audit } from './stages/audit.js';
import type { RevocationEnforcer } from './RevocationEnforcer.js';
import { cutOff } from './cutOff.js';
import { principalRefusal } from './principalRefusal.js';
import { responseGone } from './responseGone.js';
import { errorType } from './errorType.js';
import { MethodNotAllowedError } from './protocols/MethodNotAllowedError.js';
import { listModels, retrieveModel } from './protocols/openaiModels.js';

export interface PipelineOptions {
  upstreams: UpstreamPool;
  audit: AuditWriter;
  serverSecret: Uint8Array;
  receive: ReceiveOptions;
  authorize: AuthorizeOptions;
  auditBackpressureDepth: number;
  logger: Logger;
  snapshots: SnapshotHolder;
  authn: Authenticators | null;
  rateLimit: RateLimitPolicy | null;
  validator: RequestValidator | null;
  guards: GatewayGuards | null;
  /** OpenTelemetry spans per stage (no-op unless `observe.tracing.endpoint` is set). */
  tracing?: Tracing;
  /** Called once per request after it is audited (metrics). */
  onRequestDone?: (ctx: RequestContext, overheadMs: number) => void;
  /** Cuts off requests and connections of credentials revoked, and of principals blocked, while they are open. */
  revocationEnforcer?: RevocationEnforcer | null;
}

/** The stream's own 'finish' (the answer handed to nghttp2): the compat response's comes only when the stream closes. */
function endStreamAfterAnswer(req: Http2ServerRequest): void {
  const stream = req.stream;
  const close = (): void => {
    if (!stream.closed) stream.close(http2Constants.NGHTTP2_NO_ERROR);
  };
  if (stream.writableFinished) close();
  else stream.once('finish', close);
}

function overheadMs(ctx: RequestContext): number {
  return Number(process.hrtime.bigint() - ctx.startNs - ctx.upstreamNs) / 1e6;
}

/**
 * The x-warden-overhead-ms value. A model lookup (/v1/models/{id}) and a policy denial are answered
 * from admission and policy alone, so their overhead to the microsecond is the cost of the policies
 * that name the model asked about: they give it in whole milliseconds (rounded up), too coarse to
 * tell which models policies mention. Audit records and metrics keep the precise value.
 */
function overheadHeader(ctx: RequestContext): string {
  const ms = overheadMs(ctx);
  const coarse = ctx.route?.kind === 'openai.model' || ctx.errorCode === 'WARDEN_AUTHZ_DENIED';
  return coarse ? String(Math.ceil(ms)) : ms.toFixed(3);
}

export function sendError(ctx: Pick<RequestContext, 'res' | 'requestId'>, err: WardenError, overhead: string, closeConnection = false): void {
  if (ctx.res.headersSent) {
    cutOff(ctx.res, err);
    return;
  }
  // `param` (the request field at fault, or null) and `type` complete OpenAI's error object.
  const body = JSON.stringify({ error: { code: err.code, message: err.message, type: errorType(err.status), param: err.param, requestId: ctx.requestId } });
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    'x-warden-request-id': ctx.requestId,
    'x-warden-overhead-ms': overhead,
  };
  if (err.status === 401) headers['www-authenticate'] = 'Bearer realm="warden"';
  if (err instanceof RateLimitedError) headers['retry-after'] = String(err.retryAfterSeconds);
  if (err instanceof MethodNotAllowedError) headers.allow = err.allow;
  if (closeConnection) headers.connection = 'close';
  ctx.res.writeHead(err.status, headers);
  ctx.res.end(body);
}

function sendJson(ctx: RequestContext, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  ctx.status = status;
  ctx.res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-warden-request-id': ctx.requestId,
    'x-warden-overhead-ms': overheadHeader(ctx),
  });
  ctx.res.end(text);
  ctx.responded = true;
}

/** Routes the gateway answers itself (answerLocally); every other one is forwarded. */
const LOCAL_ROUTES: ReadonlySet<string> = new Set(['feedback', 'openai.models', 'openai.model', 'oip.server']);

/** Answers routes the gateway serves itself (model list filtered by policy, server health). */
function answerLocally(ctx: RequestContext, upstreams: UpstreamPool, authz: AuthorizeOptions, guards: GatewayGuards | null): boolean {
  const kind = ctx.route?.kind;
  if (kind === 'feedback') {
    if (!guards?.recordFeedback) throw new WardenError('WARDEN_GATEWAY_ROUTE_NOT_FOUND', 'no route for /v1/feedback (the detectors are disabled)');
    // Labels only for models the gateway serves: each made-up name would take an accuracy window.
    const model = ctx.route?.model;
    if (model && !upstreams.forModel(model)) throw new WardenError('WARDEN_DETECT_FEEDBACK_MODEL_UNKNOWN', `no upstream serves model ${JSON.stringify(model)}; feedback is taken only for models the gateway serves`);
    sendJson(ctx, 200, guards.recordFeedback(ctx));
    return true;
  }
  if (kind === 'openai.models') {
    sendJson(ctx, 200, listModels(ctx, upstreams, authz));
    return true;
  }
  if (kind === 'openai.model') {
    sendJson(ctx, 200, retrieveModel(ctx, upstreams, authz));
    return true;
  }
  if (kind === 'oip.server') {
    // Server metadata; /v2/health/* are answered before the pipeline, without authentication (GatewayServer).
    sendJson(ctx, 200, { name: 'warden-gateway', version: '1', extensions: [] });
    return true;
  }
  return false;
}

function newContext(req: GatewayRequest, res: GatewayResponse, requestId: string, path: string): RequestContext {
  return {
    requestId,
    startNs: process.hrtime.bigint(),
    req,
    res,
    method: req.method ?? 'GET',
    path,
    sourceIp: req.socket?.remoteAddress ?? 'unknown',
    snapshot: undefined as unknown as PepSnapshot,
    route: null,
    body: null,
    json: null,
    principal: null,
    decision: null,
    upstreamNs: 0n,
    status: 0,
    errorCode: null,
    rateGrant: null,
    verdicts: null,
    responded: false,
    closedBy: null,
  };
}

/**
 * The gateway's request pipeline, in a fixed order (docs/gateway-auth-and-limits.md, "The request pipeline"):
 * receive (TLS, limits) → authenticate → parse (JSON, only for authenticated callers) → authorize (Cedar) → rate-limit → validate (schema) →
 * route → guard input → admit model (verified digest) → forward (keep-alive) with guard output, which responds → audit.
 * Any stage may end the request with a WardenError; the audit stage always runs. `refusal` ends it
 * before the first stage (the listener's own limits), still audited.
 */
export async function runPipeline(req: GatewayRequest, res: GatewayResponse, requestId: string, path: string, o: PipelineOptions, refusal?: WardenError): Promise<void> {
  const ctx = newContext(req, res, requestId, path);
  const trace = (o.tracing ?? NOOP_TRACING).startRequest(req.headers);
  let span: StageSpan = trace.stage('receive');
  const next = (stage: string): void => {
    span.end();
    span = trace.stage(stage);
  };
  try {
    const snap = o.snapshots.current();
    const notServing = refusal ?? servingRefusal(snap, o.audit);
    if (notServing) throw notServing;
    ctx.snapshot = snap!;
    // Route, method and declared size are checked first but refused only once the caller is
    // known: the record of a 404/405/413 then names its principal, and an anonymous caller gets
    // 401 wherever it knocks, learning nothing of the routes. Authentication reads headers only.
    // A CORS preflight cannot carry a credential: it gets its 405 (which says why) at once.
    const refused = receive(ctx, o.receive);
    if (refused instanceof MethodNotAllowedError && refused.preflight) throw refused;
    next('authenticate');
    await authenticate(ctx, o.serverSecret, o.authn);
    // Against the newest snapshot, which may have come while a JWT's keys were fetched: a blocked
    // principal is refused whatever it authenticated with. Nothing can come between this and track.
    const refusedPrincipal = principalRefusal(o.snapshots.current() ?? ctx.snapshot, ctx.principal!);
    if (refusedPrincipal) throw refusedPrincipal;
    o.revocationEnforcer?.track(ctx);
    if (refused) throw refused;
    next('parse');
    await readRequestBody(ctx, o.receive);
    parseBody(ctx, o.receive);
    next('authorize');
    authorize(ctx, o.authorize);
    next('rate_limit');
    await rateLimit(ctx, o.rateLimit);
    next('validate');
    if (ctx.route && o.validator) o.validator.validate(ctx.route.kind, ctx.json, ctx.body);
    // A model no upstream serves is refused before the input guards, whose extraction state per
    // model name made-up names would grow; and after authorization and the rate limit, so only
    // callers allowed to invoke a name learn that it is not served, and a scan of names spends
    // their limit.
    const upstream = ctx.route && LOCAL_ROUTES.has(ctx.route.kind) ? null : upstreamFor(ctx, o.upstreams);
    next('guard_input');
    if (o.guards && ctx.json) await o.guards.inspectRequest(ctx);
    next('admit');
    admit(ctx);
    next('forward');
    if (upstream) {
      await forward(ctx, upstream, { guards: o.guards, rateLimit: o.rateLimit, trace, overheadHeader: () => overheadHeader(ctx), logger: o.logger });
      if (ctx.status >= 200 && ctx.status < 300 && !ctx.errorCode && !ctx.closedBy) o.guards?.predictionServed?.(ctx);
    } else answerLocally(ctx, o.upstreams, o.authorize, o.guards);
    span.end(ctx.errorCode);
  } catch (err) {
    const e = toWardenError(err);
    span.end(e.code);
    if (e.code === 'WARDEN_INTERNAL') o.logger.error({ err, requestId }, 'unexpected gateway error');
    ctx.status = e.status;
    ctx.errorCode = e.code;
    // An HTTP/1.1 body left unread (refused before it was read, too large, too slow) would have to
    // be read to reuse the connection: close it instead, so the client cannot keep the gateway reading.
    const unread = !req.complete && (req.httpVersionMajor === 2 || declaresBody(req));
    // Nobody is left to answer when the client dropped the connection or reset the stream.
    if (!responseGone(res)) sendError(ctx, e, overheadHeader(ctx), unread && req.httpVersionMajor === 1);
    if (unread) {
      // Discard what still arrives instead of buffering it; on HTTP/2, once the answer is complete,
      // ask the client to stop sending (RST_STREAM NO_ERROR, RFC 9113 §8.1).
      req.resume();
      if (req.httpVersionMajor === 2) endStreamAfterAnswer(req as Http2ServerRequest);
    }
  } finally {
    ctx.rateGrant?.release();
    o.revocationEnforcer?.untrack(ctx);
  }
  if (ctx.closedBy) {
    // Cut off by a revocation, not by the client: the record says so, as a denial unless the answer had begun.
    ctx.errorCode = ctx.closedBy.code;
    if (!ctx.closedBy.afterHeaders) ctx.status = errorCodes[ctx.closedBy.code].status;
  }
  const overhead = overheadMs(ctx);
  span = trace.stage('audit');
  await audit(ctx, o.audit, overhead, o.auditBackpressureDepth);
  span.end();
  trace.end(ctx.status, ctx.errorCode, ctx.route?.kind ?? null);
  o.onRequestDone?.(ctx, overhead);
}

/**
 * Why the gateway refuses every request now, or null when it serves: no current snapshot, or an
 * audit log that can keep no more records (fail closed). /readyz answers from the same check.
 */
export function servingRefusal(snap: PepSnapshot | null, audit: AuditWriter): WardenError | null {
  if (!snap || snap.expiresAt <= Date.now()) return new WardenError('WARDEN_GATEWAY_SNAPSHOT_STALE', 'no current policy snapshot; failing closed');
  if (audit.failingClosed) return new WardenError('WARDEN_AUDIT_WRITE_FAILED', 'the audit log cannot keep more records; requests are refused until it can');
  return null;
}

/**
 * Whether an HTTP/1.1 request has a body. One without (a GET) is not yet `complete` while its
 * handler runs, but there is nothing left to read: its keep-alive connection stays open.
 */
function declaresBody(req: GatewayRequest): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
