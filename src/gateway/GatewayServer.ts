import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WardenError, toWardenError, type ErrorCode } from '../errors/index.js';
import { CLIENT_SVID_SERVER_TLS, type RevocationList } from '../identity/index.js';
import type { AuditWriter } from './AuditWriter.js';
import type { Logger, Tracing } from '../observe/index.js';
import type { GatewayRequest, GatewayResponse } from './RequestContext.js';
import type { SnapshotHolder } from './PepSnapshot.js';
import { UpstreamPool } from './UpstreamPool.js';
import { RevocationEnforcer } from './RevocationEnforcer.js';
import { limitHttp2Sessions } from './http2SessionLimits.js';
import { limitConnectionsPerSource } from './sourceConnectionLimit.js';
import { Http1Turns, MAX_PIPELINED_REQUESTS } from './http1Turns.js';
import { answerMalformedHttp1 } from './answerMalformedHttp1.js';
import type { GatewaySvidSource } from './upstreamMtls.js';
import { runPipeline, sendError, servingRefusal, type PipelineOptions } from './pipeline.js';
import type { GatewayGuards } from './ResponseGuards.js';
import type { Authenticators, RateLimitPolicy, RequestValidator } from './index-internal.js';
import type { RequestContext } from './RequestContext.js';
import type { UpstreamConfig } from '../config/index.js';

export interface GatewayTls {
  certPem: string;
  keyPem: string;
  /** CA bundle used to verify client certificates (mTLS), when requested. */
  caPem?: string;
}

export interface GatewayOptions {
  host: string;
  port: number;
  /** Plain HTTP (development only); otherwise TLS 1.2+ with HTTP/2 and HTTP/1.1. */
  tls: GatewayTls | null;
  upstreams: readonly UpstreamConfig[];
  snapshots: SnapshotHolder;
  audit: AuditWriter;
  logger: Logger;
  serverSecret: Uint8Array;
  maxBodyBytes: number;
  maxJsonDepth?: number;
  region?: string;
  auditBackpressureDepth?: number;
  /** JWT/OIDC, JWT-SVID and mTLS authenticators (API keys are always on). */
  authn?: Authenticators | null;
  /** Client certificates are requested (not required) when set: verified by authn.mtls. */
  requestClientCert?: boolean;
  rateLimit?: RateLimitPolicy | null;
  validator?: RequestValidator | null;
  guards?: GatewayGuards | null;
  onRequestDone?: (ctx: RequestContext, overheadMs: number) => void;
  /** Told of each HTTP/1.1 request refused before the pipeline because node:http could not parse it (metrics). */
  onMalformedRequest?: (code: ErrorCode) => void;
  /** The gateway's own SVID, for mTLS to upstreams marked `mtls` (Warden sidecars). */
  upstreamSvid?: GatewaySvidSource | null;
  /** The SVIDs `mtls` upstreams present are checked against it; their open connections close when revoked. */
  upstreamRevocations?: RevocationList | null;
  trustDomain?: string;
  /** Told when an upstream's health check passes or fails (metrics). */
  onUpstreamHealth?: (upstream: string, up: boolean) => void;
  /** Spans per pipeline stage, W3C trace context to upstreams (off unless configured). */
  tracing?: Tracing;
  /** GET /metrics on the gateway listener (observe's metricsHandler). */
  metricsHandler?: (req: GatewayRequest, res: GatewayResponse) => void;
  /**
   * How long an idle client connection stays open (HTTP/1.1 keep-alive between requests; an
   * HTTP/2 session without frames is then closed gracefully). Default 65 s: longer than the 60 s
   * idle timeout of common load balancers, so they never reuse a connection the gateway is closing.
   */
  idleTimeoutMs?: number;
  /**
   * A request's headers must arrive within this long, on both protocols (node:http's headersTimeout
   * on HTTP/1.1; on HTTP/2 a session with an unfinished header block is destroyed). Default 60 s.
   */
  headersTimeoutMs?: number;
  /** The request body must arrive within this long of the request start; default 30 s (408 after). */
  bodyTimeoutMs?: number;
  /** Open client connections at most; more are refused at accept (file descriptors and memory stay bounded). Default 10 000. */
  maxConnections?: number;
  /**
   * Open connections at most from one source (an IPv4 address, an IPv6 /64); more are refused at
   * accept, so one client cannot take every slot of maxConnections. 0: no per-source cap. Default 1000.
   */
  maxConnectionsPerSource?: number;
}

export interface RunningGateway {
  url: string;
  port: number;
  /** Requests being handled now. */
  inFlight(): number;
  /** Swaps the listener certificate (renewal) for new connections; no-op on plain HTTP. */
  updateTls(tls: GatewayTls): void;
  /** Stops accepting, waits for in-flight requests up to graceMs, then closes connections. */
  close(graceMs?: number): Promise<void>;
}

/** HTTP/2 streams one client session may have open at once (advertised in SETTINGS). */
export const MAX_CONCURRENT_STREAMS = 128;
/** Largest request header block on either protocol (node:http's default for HTTP/1.1). */
export const MAX_HEADER_BYTES = 16 * 1024;
/**
 * The longest a TLS handshake may take (less when headersTimeoutMs is shorter). Node's default is
 * 120 s, and headersTimeoutMs only starts once the handshake is done: a connection that never sends
 * its ClientHello would hold its slot that long. A real client needs a few round trips.
 */
export const MAX_TLS_HANDSHAKE_MS = 10_000;

/**
 * The header list size of an HTTP/2 request (RFC 9113 §6.5.2: name and value octets plus 32 per
 * field, pseudo-headers included). nghttp2 advertises maxHeaderListSize but does not enforce it on
 * what a client sends anyway (curl's 20 KB header reached the handler), so the gateway does.
 */
function headerListSize(rawHeaders: readonly string[]): number {
  let size = 0;
  // Node hands HTTP/2 header octets over as latin1 strings: one character per octet.
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) size += rawHeaders[i]!.length + rawHeaders[i + 1]!.length + 32;
  return size;
}

/** A health probe's answer: 200 or 503 with a JSON body (probes carry no credential and are not audited). */
function answerProbe(res: GatewayResponse, requestId: string, ok: boolean, body: unknown): void {
  res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json', 'x-warden-request-id': requestId });
  res.end(JSON.stringify(body));
}

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const idleTimeoutMs = options.idleTimeoutMs ?? 65_000;
  const headersTimeoutMs = options.headersTimeoutMs ?? 60_000;
  const bodyTimeoutMs = options.bodyTimeoutMs ?? 30_000;
  // node:http's own limit on a whole HTTP/1.1 request (300 s by default) stays, but only as a
  // backstop behind the gateway's body deadline, which answers a slow upload itself (408
  // WARDEN_GATEWAY_BODY_TIMEOUT, audited): bodyTimeoutSeconds may be set above 300 s.
  const requestTimeout = headersTimeoutMs + bodyTimeoutMs + 30_000;
  // node:http checks headersTimeout on this interval (30 s by default), so the bound holds within half again.
  const connectionsCheckingInterval = Math.min(30_000, Math.max(50, headersTimeoutMs / 2));
  const upstreams = new UpstreamPool(options.upstreams, { onHealth: options.onUpstreamHealth, svid: options.upstreamSvid, trustDomain: options.trustDomain, revocations: options.upstreamRevocations ?? null, logger: options.logger });
  upstreams.startHealthChecks();
  // Revocations also close what is open: connections of revoked client SVIDs, requests of revoked
  // JWT-SVIDs, and (from each new snapshot) requests of revoked API keys and blocked principals.
  const revocationEnforcer = new RevocationEnforcer(options.authn?.revocations ?? null, options.snapshots);
  const pipeline: PipelineOptions = {
    upstreams,
    audit: options.audit,
    serverSecret: options.serverSecret,
    receive: { maxBodyBytes: options.maxBodyBytes, maxJsonDepth: options.maxJsonDepth ?? 64, bodyTimeoutMs },
    authorize: { region: options.region ?? 'local', classificationOf: (model) => upstreams.forModel(model)?.classification ?? 'internal' },
    auditBackpressureDepth: options.auditBackpressureDepth ?? 60_000,
    logger: options.logger,
    snapshots: options.snapshots,
    authn: options.authn ?? null,
    rateLimit: options.rateLimit ?? null,
    validator: options.validator ?? null,
    guards: options.guards ?? null,
    onRequestDone: options.onRequestDone,
    tracing: options.tracing,
    revocationEnforcer,
  };
  let inFlight = 0;
  let draining = false;
  const sockets = new Set<Socket>();

  /** Runs the pipeline; `turns` is told when it is done (the next pipelined request of the connection starts). */
  const start = (req: GatewayRequest, res: GatewayResponse, requestId: string, path: string, turns: Http1Turns | null, refusal?: WardenError): void => {
    inFlight++;
    runPipeline(req, res, requestId, path, pipeline, refusal)
      .catch((err) => options.logger.error({ err: toWardenError(err).code, requestId }, 'pipeline failure'))
      .finally(() => {
        inFlight--;
        turns?.done();
      });
  };

  const handler = (req: GatewayRequest, res: GatewayResponse): void => {
    const requestId = randomUUID();
    if (draining) {
      sendError({ res, requestId }, new WardenError('WARDEN_UNAVAILABLE', 'the gateway is shutting down'), '0');
      return;
    }
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (req.httpVersionMajor === 2 && headerListSize(req.rawHeaders) > MAX_HEADER_BYTES) {
      // Refused through the pipeline before any stage, so it is audited (node:http refuses such an
      // HTTP/1.1 request before the handler, with a bare 431).
      start(req, res, requestId, path, null, new WardenError('WARDEN_GATEWAY_HEADERS_TOO_LARGE', `the request headers exceed ${MAX_HEADER_BYTES} bytes`));
      return;
    }
    if (path === '/metrics' && options.metricsHandler) {
      options.metricsHandler(req, res);
      return;
    }
    if ((path === '/v2/health/live' || path === '/v2/health/ready') && (req.method === 'GET' || req.method === 'HEAD')) {
      // OIP health, unauthenticated like /readyz: load balancers and KServe-style probes carry no
      // credential, and the answer reveals nothing. Ready while the gateway may serve (snapshot
      // current, audit log writable) and some model server can be reached (its circuit is not open).
      const ready = servingRefusal(options.snapshots.current(), options.audit) === null && upstreams.upstreams.some((u) => u.breaker.state !== 'open');
      answerProbe(res, requestId, ready || path === '/v2/health/live', { live: true, ready });
      return;
    }
    if (path === '/healthz' || path === '/readyz') {
      const snap = options.snapshots.current();
      const ready = path === '/healthz' || servingRefusal(snap, options.audit) === null;
      answerProbe(res, requestId, ready, { status: ready ? 'ok' : 'not-ready', snapshotVersion: snap?.version ?? null });
      return;
    }
    if (req.httpVersionMajor !== 1) {
      start(req, res, requestId, path, null);
      return;
    }
    const turns = Http1Turns.of(req.socket);
    if (!turns.busy) {
      turns.busy = true;
      start(req, res, requestId, path, turns);
      return;
    }
    const turn = turns.wait(() => {
      // A client that left while this waited: the pipeline then sees it gone (audited, no model call).
      if (req.socket.destroyed) res.destroy();
      start(req, res, requestId, path, turns);
    });
    if (turn !== 'refuse') return;
    // Refused through the pipeline so that it is audited like any request; answered after the
    // requests before it, then the connection closes.
    res.setHeader('connection', 'close');
    start(req, res, requestId, path, null, new WardenError('WARDEN_GATEWAY_PIPELINE_LIMITED', `more than ${MAX_PIPELINED_REQUESTS} requests pipelined on one HTTP/1.1 connection`));
  };

  let server: HttpServer | Http2SecureServer;
  let stopSessionLimits = (): void => undefined;
  if (options.tls) {
    server = createSecureServer(
      {
        cert: options.tls.certPem,
        key: options.tls.keyPem,
        ca: options.tls.caPem,
        allowHTTP1: true,
        minVersion: 'TLSv1.2',
        handshakeTimeout: Math.min(headersTimeoutMs, MAX_TLS_HANDSHAKE_MS),
        // Node's default is unlimited streams per session: one connection could then hold any number
        // of requests. 128 is nginx's default; clients queue beyond it.
        // Headers: the same 16 KiB limit as node:http applies to HTTP/1.1 (431 there), advertised
        // here and enforced by the handler (headerListSize), so both protocols refuse a large header.
        settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS, maxHeaderListSize: MAX_HEADER_BYTES },
        // Client SVIDs are verified per connection by the mTLS authenticator (bundle + revocations),
        // so the handshake accepts any certificate and API-key/JWT clients need none.
        requestCert: options.requestClientCert === true,
        rejectUnauthorized: false,
        ...(options.requestClientCert === true ? CLIENT_SVID_SERVER_TLS : {}),
      },
      handler,
    );
    // The allowHTTP1 fallback leaves keepAliveTimeout unset, which keeps idle HTTP/1.1 connections open forever.
    // (node:http reads it off the server object; @types/node does not declare it on Http2SecureServer.)
    // The same object carries node:http's header deadline for those connections (read at listen).
    Object.assign(server, { keepAliveTimeout: idleTimeoutMs, headersTimeout: headersTimeoutMs, requestTimeout, connectionsCheckingInterval });
    // HTTP/2 sessions have no idle timeout and no header deadline by default. The idle close is
    // graceful: streams in flight (a long completion) finish, new ones are refused, the client reconnects.
    stopSessionLimits = limitHttp2Sessions(server, { idleTimeoutMs, headersTimeoutMs });
  } else {
    options.logger.warn({ host: options.host }, 'the gateway serves plain HTTP (insecureDev): API keys and tokens cross it in clear text; development only');
    server = createHttpServer({ keepAliveTimeout: idleTimeoutMs, headersTimeout: headersTimeoutMs, requestTimeout, connectionsCheckingInterval }, handler);
  }
  server.maxConnections = options.maxConnections ?? 10_000;
  const maxPerSource = options.maxConnectionsPerSource ?? 1000;
  if (maxPerSource >= server.maxConnections) {
    options.logger.warn({ maxConnections: server.maxConnections, maxConnectionsPerSource: maxPerSource }, 'gateway.maxConnectionsPerSource is not below gateway.maxConnections: one source can take every connection slot');
  }
  limitConnectionsPerSource(server, maxPerSource, options.logger);
  // HTTP/1.1 requests node:http cannot parse (on the TLS listener too: allowHTTP1 connections report here).
  const http1Limits = { headersTimeoutMs, maxHeaderBytes: MAX_HEADER_BYTES };
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => answerMalformedHttp1(err, socket, http1Limits, options.onMalformedRequest));
  const track = (socket: Socket): void => {
    sockets.add(socket);
    // node:http sets TCP_NODELAY on its sockets, but HTTP/1.1 connections that http2's allowHTTP1
    // hands over keep Nagle on: a streamed token then waits for the client's delayed ACK (~40 ms).
    if (options.tls) socket.setNoDelay(true);
    socket.once('close', () => sockets.delete(socket));
  };
  server.on(options.tls ? 'secureConnection' : 'connection', track);

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => resolve());
    });
  } catch (err) {
    // The health checks, session timers and revocation listener started above would otherwise keep running for a gateway that never served.
    revocationEnforcer.close();
    stopSessionLimits();
    await upstreams.close();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `${options.tls ? 'https' : 'http'}://${host}:${port}`,
    port,
    inFlight: () => inFlight,
    updateTls(next: GatewayTls): void {
      if (options.tls) (server as Http2SecureServer).setSecureContext({ cert: next.certPem, key: next.keyPem, ca: next.caPem, ...(options.requestClientCert === true ? CLIENT_SVID_SERVER_TLS : {}) });
    },
    async close(graceMs = 10_000): Promise<void> {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const deadline = Date.now() + graceMs;
      while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const s of sockets) s.destroy();
      revocationEnforcer.close();
      stopSessionLimits();
      await closed;
      await upstreams.close();
    },
  };
}
