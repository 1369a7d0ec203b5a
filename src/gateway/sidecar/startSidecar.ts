import { createServer as createHttpsServer, request as httpsRequest, type Server as HttpsServer } from 'node:https';
import { createServer as createHttpServer, request as httpRequest, Agent as HttpAgent, type Server as HttpServer, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { pipeline, type Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { WardenError, isWardenError, type ErrorCode } from '../../errors/index.js';
import type { Authorizer } from '../../policy/index.js';
import type { AuditLog } from '../../audit/index.js';
import { answerMalformedHttp1, type Http1Limits } from '../answerMalformedHttp1.js';
import { verifyPeerSvid, CLIENT_SVID_SERVER_TLS, TrustBundle, type RevocationList, type SvidSource, type SvidMaterial, type VerifiedSvid } from '../../identity/index.js';
import { UpstreamPeers } from '../UpstreamPeers.js';
import { PinnedPeerAgent } from './PinnedPeerAgent.js';

export interface OutboundRoute {
  /** Workload calls http://<outbound>/<name>/<path>. */
  name: string;
  /** https://host:port of the remote sidecar. */
  url: string;
  /** SPIFFE ID the remote must present. */
  spiffeId: string;
}

export interface SidecarOptions {
  trustDomain: string;
  /** This service's SVID (a WorkloadAgent in-process, or FileSvidSource over the agent's files). */
  identity: SvidSource;
  /** Revocation list kept current by a RevocationFeed (or the control plane's own list). */
  revocations: RevocationList;
  /** Segmentation: Action::"connect", Service::"<caller>" → Service::"<this service>". */
  authorizer: Authorizer;
  /** Inbound mTLS listener (default 127.0.0.1:0). */
  host?: string;
  port?: number;
  /** Local workload, e.g. http://127.0.0.1:9000. */
  upstreamUrl: string;
  /** Plain-HTTP listener for the workload's outbound calls (loopback only); omitted = none. */
  outboundPort?: number;
  outbound?: OutboundRoute[];
  /** Environment put into the segmentation context. */
  environment?: string;
  clockSkewSeconds?: number;
  /**
   * Whether the revocation list is current (e.g. `() => feed.isFresh(300_000)`). When it returns
   * false the sidecar fails closed: 503 WARDEN_UNAVAILABLE until the stream is back.
   */
  revocationsFresh?: () => boolean;
  maxHeaderBytes?: number;
  /** How long a client may take to send its request headers (default 60 s); then 408 WARDEN_GATEWAY_HEADERS_TIMEOUT. */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  /**
   * How long a forwarded request's connection (to the local workload or a remote service) may stay
   * silent, no byte either way, before it is cut: 502 WARDEN_IDENTITY_UPSTREAM_FAILED, or the
   * response cut if it had started (default 300 s; 0 = none).
   */
  upstreamIdleTimeoutMs?: number;
  audit?: AuditLog;
}

export interface Sidecar {
  /** https://host:port of the inbound mTLS listener. */
  url: string;
  /** http://127.0.0.1:port of the outbound listener, if enabled. */
  outboundUrl: string | null;
  /** revokedClosed: connections closed because their peer was revoked; malformed: HTTP/1.1 requests node:http could not parse (either listener). */
  readonly stats: { accepted: number; rejectedHandshakes: number; revokedClosed: number; denied: number; forwarded: number; malformed: number };
  close(): Promise<void>;
}

const PEER_HEADER = 'x-warden-peer-spiffe-id';
/** RFC 9110 §7.6.1 hop-by-hop headers: they describe one connection and must not be forwarded. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate'];

function forwardable(headers: Record<string, string | string[] | undefined>): Record<string, string | string[] | undefined> {
  const out = { ...headers };
  const listed = typeof out.connection === 'string' ? out.connection.split(',').map((h) => h.trim().toLowerCase()) : [];
  for (const h of [...HOP_BY_HOP, ...listed]) delete out[h];
  return out;
}

/**
 * Client headers that claim who called or where from, in the names workloads and their frameworks
 * read (the sidecar's own x-warden-*, Envoy's x-forwarded-client-cert, x-spiffe-id, the proxy
 * headers): only the sidecar may say who called, from the verified SVID (docs/identity.md).
 */
const CLAIMED_IDENTITY = /^(?:x-warden-.*|x-forwarded-.*|forwarded|x-spiffe-id|x-real-ip|x-client-cert|x-ssl-client-.*)$/;

/**
 * Headers for a request forwarded on the workload's behalf. The body keeps the framing it came
 * with, whatever `Connection` lists: without content-length or transfer-encoding, Node's client
 * writes the body of a GET raw after its headers, and the workload would parse it as a second
 * request that was never authorized (request smuggling past segmentation). Node's server has
 * already refused a request that carries both. Header names with `_` are dropped (as nginx does
 * by default): WSGI/CGI servers read `x_warden_peer_spiffe_id` as the sidecar's own header.
 */
function forwardedRequestHeaders(req: IncomingMessage): Record<string, string | string[] | undefined> {
  const headers = forwardable(req.headers);
  for (const h of Object.keys(headers)) if (h.includes('_') || CLAIMED_IDENTITY.test(h)) delete headers[h];
  if (req.headers['transfer-encoding'] !== undefined) headers['transfer-encoding'] = 'chunked';
  else if (req.headers['content-length'] !== undefined) headers['content-length'] = req.headers['content-length'];
  return headers;
}

/**
 * Node has undone the chunked framing of a request body and nothing else: under `gzip, chunked`
 * the body would reach the workload still gzip-coded, re-framed as plain chunked. RFC 9112 §6.1:
 * a coding the server does not implement gets 501.
 */
function unsupportedTransferCoding(req: IncomingMessage): WardenError | null {
  const te = req.headers['transfer-encoding'];
  if (te === undefined || te.trim().toLowerCase() === 'chunked') return null;
  return new WardenError('WARDEN_IDENTITY_TRANSFER_CODING_UNSUPPORTED', 'only the chunked transfer coding is supported on requests; send the body uncompressed');
}

/**
 * Relays the client's body to `up` and its answer back. A client that goes away takes the
 * forwarded request with it: otherwise the workload keeps generating for nobody and the pooled
 * connection stays held (a few hundred abandoned uploads would starve every other caller). A
 * connection silent for `idleMs` is cut.
 */
function relay(req: IncomingMessage, res: ServerResponse, up: ClientRequest, idleMs: number, onError: (err: Error) => void, onResponse: () => void = () => undefined): void {
  up.on('response', (upRes: IncomingMessage) => {
    onResponse();
    res.writeHead(upRes.statusCode ?? 502, forwardable(upRes.headers));
    // Either side's early end ends the other: an upstream cut mid-answer cuts the client's.
    pipeline(upRes, res, () => undefined);
  });
  up.on('error', onError);
  if (idleMs > 0) up.setTimeout(idleMs, () => up.destroy(new Error(`no answer for ${idleMs} ms`)));
  res.once('close', () => {
    if (!res.writableFinished) up.destroy();
  });
  req.pipe(up);
}

function sendError(res: ServerResponse, err: WardenError, requestId: string, closeConnection = false): void {
  if (res.writableEnded || res.destroyed) return;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(err.status, {
    'content-type': 'application/json',
    'x-warden-request-id': requestId,
    ...(closeConnection ? { connection: 'close' } : {}),
  });
  res.end(JSON.stringify({ error: { code: err.code, message: err.message, requestId } }));
}

/**
 * The sidecar PEP: inbound mTLS (peer SVID verified against the bundle, SPIFFE rules and the
 * revocation list), segmentation per request, then forwarding to the local workload; outbound,
 * the workload's plain calls leave with its SVID and the remote's SPIFFE ID is pinned. A
 * revocation closes the revoked peer's open connections at once and is rechecked per request.
 */
/**
 * Segmentation rules match the path as sent, and the workload gets it unchanged; a workload that
 * normalises paths (WHATWG URL, most routers) would serve `/public/../private` as `/private`.
 * So only paths that no normalisation changes are let through: origin-form, no `.`/`..` segments
 * (also `..;` as Tomcat reads it), no percent-encoded dot, slash or backslash, no backslash.
 */
export function isNormalPath(path: string): boolean {
  if (!path.startsWith('/') || path.includes('\\') || /%(2e|2f|5c)/i.test(path)) return false;
  return !path.split('/').some((segment) => /^\.\.?(;.*)?$/.test(segment));
}

export async function startSidecar(options: SidecarOptions): Promise<Sidecar> {
  const first = options.identity.current();
  if (!first) throw new WardenError('WARDEN_IDENTITY_AGENT_NOT_READY', 'the sidecar needs an SVID before it can listen');
  let me: SvidMaterial = first;
  let bundle = new TrustBundle(me.bundlePem);
  const upstream = new URL(options.upstreamUrl);
  const upstreamAgent = new HttpAgent({ keepAlive: true, maxSockets: 256 });
  const stats = { accepted: 0, rejectedHandshakes: 0, revokedClosed: 0, denied: 0, forwarded: 0, malformed: 0 };
  const peers = new Map<TLSSocket, VerifiedSvid>();
  const skew = options.clockSkewSeconds ?? 30;
  const requestTimeout = options.requestTimeoutMs ?? 60_000;
  const upstreamIdleMs = options.upstreamIdleTimeoutMs ?? 300_000;
  // node:http refuses a headers deadline beyond the whole request's (0 = no request deadline).
  const headersTimeoutMs = requestTimeout > 0 ? Math.min(options.headersTimeoutMs ?? 60_000, requestTimeout) : (options.headersTimeoutMs ?? 60_000);
  const http1Limits: Http1Limits = { headersTimeoutMs, maxHeaderBytes: options.maxHeaderBytes ?? 16 * 1024 };
  // node:http checks headersTimeout on this interval (30 s by default), so the bound holds within half again (as on the gateway).
  const connectionsCheckingInterval = Math.min(30_000, Math.max(50, headersTimeoutMs / 2));
  // Unparsable HTTP/1.1 gets the gateway's JSON answer (stable code, request id) and a closed
  // connection rather than node's bare "400 Bad Request". Failed TLS handshakes are not reported here.
  const onClientError = (err: NodeJS.ErrnoException, socket: Duplex): void =>
    answerMalformedHttp1(err, socket, http1Limits, () => {
      stats.malformed++;
    });

  const server: HttpsServer = createHttpsServer({
    key: me.keyPem,
    cert: me.chainPem,
    ca: me.bundlePem,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
    ...CLIENT_SVID_SERVER_TLS,
    maxHeaderSize: http1Limits.maxHeaderBytes,
    headersTimeout: headersTimeoutMs,
    requestTimeout,
    connectionsCheckingInterval,
  });
  server.keepAliveTimeout = 30_000;
  server.on('clientError', onClientError);

  server.on('secureConnection', (socket: TLSSocket) => {
    try {
      const peer = verifyPeerSvid(socket.getPeerCertificate(true), bundle, options.revocations, options.trustDomain, { clockSkewSeconds: skew });
      peers.set(socket, peer);
      stats.accepted++;
      socket.once('close', () => peers.delete(socket));
    } catch {
      stats.rejectedHandshakes++;
      socket.destroy();
    }
  });
  server.on('tlsClientError', () => {
    stats.rejectedHandshakes++;
  });

  // Checked again on every change and request: a connection outlives the check made at its handshake.
  const revoked = (peer: VerifiedSvid): boolean => options.revocations.revokesSvid(peer.spiffeId, peer.serial, peer.issuerSerials);
  const onRevoked = () => {
    for (const [socket, peer] of peers) {
      if (revoked(peer)) {
        stats.revokedClosed++;
        peers.delete(socket);
        socket.destroy();
      }
    }
  };
  options.revocations.on('change', onRevoked);

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const requestId = randomUUID();
    const socket = req.socket as TLSSocket;
    const peer = peers.get(socket);
    if (!peer) return sendError(res, new WardenError('WARDEN_IDENTITY_SVID_MISSING'), requestId, true);
    if (options.revocationsFresh && !options.revocationsFresh()) {
      return sendError(res, new WardenError('WARDEN_UNAVAILABLE', 'the revocation list is stale (control plane unreachable); failing closed'), requestId);
    }
    if (revoked(peer)) {
      stats.revokedClosed++;
      sendError(res, new WardenError('WARDEN_IDENTITY_REVOKED', `${peer.spiffeId} is revoked`), requestId, true);
      socket.destroy();
      return;
    }
    if (Date.now() > peer.notAfter.getTime() + skew * 1000) {
      return sendError(res, new WardenError('WARDEN_IDENTITY_SVID_EXPIRED'), requestId, true);
    }
    const path = (req.url ?? '/').split('?')[0]!;
    if (!isNormalPath(path)) {
      return sendError(res, new WardenError('WARDEN_INPUT_INVALID', 'the request path must be in normal form: no dot segments, encoded dots or slashes, or backslashes'), requestId);
    }
    const decision = options.authorizer.authorize({
      principal: { type: 'Service', id: peer.spiffeId },
      action: { type: 'Action', id: 'connect' },
      resource: { type: 'Service', id: me.spiffeId },
      context: { path, method: req.method ?? 'GET', environment: options.environment ?? '' },
    });
    if (decision.decision !== 'allow') {
      stats.denied++;
      void options.audit?.append({
        ts: new Date().toISOString(),
        kind: 'decision',
        requestId,
        principal: peer.spiffeId,
        action: 'connect',
        resource: me.spiffeId,
        decision: 'deny',
        code: 'WARDEN_IDENTITY_SEGMENTATION_DENIED',
        details: { path, method: req.method },
      });
      return sendError(res, new WardenError('WARDEN_IDENTITY_SEGMENTATION_DENIED', `${peer.spiffeId} may not ${req.method} ${path} on ${me.spiffeId}`), requestId);
    }
    const coding = unsupportedTransferCoding(req);
    if (coding) return sendError(res, coding, requestId, true);
    const headers = forwardedRequestHeaders(req);
    headers[PEER_HEADER] = peer.spiffeId;
    headers['x-warden-request-id'] = requestId;
    const up = httpRequest({ host: upstream.hostname, port: upstream.port || 80, method: req.method, path: req.url, headers, agent: upstreamAgent });
    relay(
      req,
      res,
      up,
      upstreamIdleMs,
      () => sendError(res, new WardenError('WARDEN_IDENTITY_UPSTREAM_FAILED', 'the local workload did not answer'), requestId),
      () => stats.forwarded++,
    );
  });

  // Outbound: workload → http://127.0.0.1:<port>/<route>/<path> → mTLS with our SVID, peer pinned.
  // One agent per route: a connection verified for one route's peer never carries another's request.
  const outboundPeers = new UpstreamPeers<VerifiedSvid>(options.revocations);
  const makeOutboundAgents = (s: SvidMaterial) =>
    new Map(
      (options.outbound ?? []).map((r) => [r.name, new PinnedPeerAgent(s, () => bundle, { spiffeId: r.spiffeId, trustDomain: options.trustDomain, clockSkewSeconds: skew }, outboundPeers)]),
    );
  let outboundAgents = makeOutboundAgents(me);
  const routes = new Map((options.outbound ?? []).map((r) => [r.name, r]));
  let outbound: HttpServer | null = null;
  if (options.outboundPort !== undefined) {
    // node:http's default whole-request deadline (300 s) stays: the workload's uploads may be long.
    const outboundLimits = { maxHeaderSize: http1Limits.maxHeaderBytes, headersTimeout: headersTimeoutMs, requestTimeout: Math.max(300_000, headersTimeoutMs), connectionsCheckingInterval };
    outbound = createHttpServer(outboundLimits, (req, res) => {
      const requestId = randomUUID();
      const m = /^\/([A-Za-z0-9._-]{1,64})(\/.*)?$/.exec(req.url ?? '/');
      const route = m ? routes.get(m[1]!) : undefined;
      if (!route) return sendError(res, new WardenError('WARDEN_NOT_FOUND', 'no outbound route with that name'), requestId);
      // The remote's revocation is checked on our list, as inbound: a stale list fails closed.
      if (options.revocationsFresh && !options.revocationsFresh()) {
        return sendError(res, new WardenError('WARDEN_UNAVAILABLE', 'the revocation list is stale (control plane unreachable); failing closed'), requestId);
      }
      const coding = unsupportedTransferCoding(req);
      if (coding) return sendError(res, coding, requestId, true);
      const target = new URL(route.url);
      const agent = outboundAgents.get(route.name)!;
      const headers = { ...forwardedRequestHeaders(req), host: target.host };
      const out = httpsRequest({ host: target.hostname, port: target.port || 443, method: req.method, path: m![2] ?? '/', headers, agent });
      // Every request, on a new or a reused connection, is checked against the peer verified on it.
      out.once('socket', (socket) => {
        const refusal = agent.refusal(socket as TLSSocket);
        if (refusal) out.destroy(refusal);
      });
      relay(req, res, out, upstreamIdleMs, (err) => {
        const code: ErrorCode = isWardenError(err) ? err.code : 'WARDEN_IDENTITY_UPSTREAM_FAILED';
        sendError(res, new WardenError(code, isWardenError(err) ? err.message : `cannot reach ${route.name}`, { status: 502 }), requestId);
      });
    });
    outbound.on('clientError', onClientError);
  }

  const onRotated = (s: SvidMaterial) => {
    me = s;
    bundle = new TrustBundle(s.bundlePem);
    server.setSecureContext({ key: s.keyPem, cert: s.chainPem, ca: s.bundlePem, minVersion: 'TLSv1.2', ...CLIENT_SVID_SERVER_TLS });
    const old = outboundAgents;
    outboundAgents = makeOutboundAgents(s);
    setTimeout(() => old.forEach((a) => a.destroy()), 30_000).unref();
  };
  options.identity.on('rotated', onRotated);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  if (outbound) {
    await new Promise<void>((resolve, reject) => {
      outbound!.once('error', reject);
      // Loopback only: anything on this port leaves with the workload's identity.
      outbound!.listen(options.outboundPort, '127.0.0.1', () => resolve());
    });
  }
  const addr = server.address() as AddressInfo;
  return {
    url: `https://${addr.address}:${addr.port}`,
    outboundUrl: outbound ? `http://127.0.0.1:${(outbound.address() as AddressInfo).port}` : null,
    stats,
    async close() {
      options.revocations.off('change', onRevoked);
      options.identity.off('rotated', onRotated);
      for (const s of peers.keys()) s.destroy();
      const closed = Promise.all([
        new Promise<void>((r) => server.close(() => r())),
        outbound ? new Promise<void>((r) => outbound!.close(() => r())) : Promise.resolve(),
      ]);
      server.closeAllConnections();
      outbound?.closeAllConnections();
      await closed;
      upstreamAgent.destroy();
      outboundAgents.forEach((a) => a.destroy());
      outboundPeers.close();
    },
  };
}

