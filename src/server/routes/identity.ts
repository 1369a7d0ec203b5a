import type { TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { toWardenError, WardenError } from '../../errors/index.js';
import { getAuthority, getIdentityService, nodeCertificatesFromPem, REVOCATION_HEARTBEAT_MS, SourceAddressTracker, type CertificateAuthority, type RevocationEntry, type VerifiedSvid } from '../../identity/index.js';
import { getResponder } from '../../respond/index.js';
import type { ControlPlaneContext } from '../ControlPlaneContext.js';
import { SvidAddressWatch } from '../SvidAddressWatch.js';
import { parseBody } from './parseBody.js';
import { auditedChange } from '../auditedChange.js';

const SMALL_BODY = 32 * 1024;
const pub = { public: true } as const;

const parse = parseBody;

let issuerCache: { pem: string; certs: X509Certificate[] } | null = null;

/**
 * The caller's leaf plus this CA's intermediates (any generation, and those a renewal replaced
 * until they expire). Cheaper than getPeerCertificate(true), which materialises the whole chain
 * as JS objects per request, and independent of TLS session resumption, after which the server
 * no longer has the chain the client sent.
 */
function peerOf(request: FastifyRequest, ca: CertificateAuthority): X509Certificate[] | null {
  const socket = request.raw.socket as TLSSocket;
  const leaf = typeof socket.getPeerX509Certificate === 'function' ? socket.getPeerX509Certificate() : undefined;
  if (!leaf) return null;
  const pem = ca.intermediatesPem();
  if (issuerCache?.pem !== pem) issuerCache = { pem, certs: nodeCertificatesFromPem(pem) };
  return [leaf, ...issuerCache.certs];
}

/** The TCP peer, never X-Forwarded-For: mTLS ends here, so the socket is the workload. */
function sourceAddressOf(request: FastifyRequest): string | undefined {
  return request.raw.socket.remoteAddress;
}


const csrBody = z.strictObject({ csr: z.string().min(1).max(16_384), ttlSeconds: z.number().int().positive().optional() });
const attestBody = z.strictObject({
  csr: z.string().min(1).max(16_384),
  joinToken: z.string().max(128).optional(),
  k8sToken: z.string().max(16_384).optional(),
  spiffeId: z.string().max(2048).optional(),
  ttlSeconds: z.number().int().positive().optional(),
});
const jwtBody = z.strictObject({ audience: z.union([z.string().min(1).max(512), z.array(z.string().min(1).max(512)).min(1).max(16)]), ttlSeconds: z.number().int().positive().optional() });
const entryBody = z.strictObject({ spiffeId: z.string().max(2048), selectors: z.array(z.string()).min(1).max(32), ttlSeconds: z.number().int().optional() });
const tokenBody = z.strictObject({ spiffeId: z.string().max(2048), ttlSeconds: z.number().int().optional() });
/** `*.example.com` matches exactly one label under example.com; other patterns match exactly (case-insensitive). */
export function dnsNameAllowed(name: string, patterns: readonly string[]): boolean {
  const n = name.toLowerCase();
  return patterns.some((p) => {
    const q = p.toLowerCase();
    if (!q.startsWith('*.')) return n === q;
    const suffix = q.slice(1);
    return n.endsWith(suffix) && n.length > suffix.length && !n.slice(0, -suffix.length).includes('.');
  });
}

const issueBody = z.strictObject({
  csr: z.string().min(1).max(16_384),
  spiffeId: z.string().max(2048),
  ttlSeconds: z.number().int().optional(),
  dnsNames: z.array(z.string().max(253)).max(16).optional(),
  /** `oldest` for listener certificates: under the oldest root still usable, see CertificateAuthority. */
  root: z.enum(['active', 'oldest']).optional(),
});
const adminJwtBody = z.strictObject({ spiffeId: z.string().max(2048), audience: z.union([z.string().min(1).max(512), z.array(z.string().min(1).max(512)).min(1).max(16)]), ttlSeconds: z.number().int().optional() });
const revokeBody = z.strictObject({ spiffeId: z.string().max(2048).optional(), serial: z.string().max(64).optional(), reason: z.string().max(256).optional() });
const rotateBody = z.strictObject({ prepareOnly: z.boolean().optional() });
const svidsQuery = z.object({
  spiffeId: z.string().max(2048).optional(),
  includeExpired: z.string().optional(),
  limit: z.string().regex(/^[1-9][0-9]{0,4}$/, 'limit must be an integer 1..10000').transform(Number).refine((n) => n <= 10_000, 'limit must be an integer 1..10000').optional(),
});

function svidResponse(s: { spiffeId: string; serial: string; certPem: string; chainPem: string; bundlePem: string; notBefore: Date; notAfter: Date }) {
  return { spiffeId: s.spiffeId, serial: s.serial, certPem: s.certPem, chainPem: s.chainPem, bundlePem: s.bundlePem, notBefore: s.notBefore.toISOString(), notAfter: s.notAfter.toISOString() };
}

/**
 * Identity routes, mounted under /api/v1. Routes marked public authenticate callers themselves:
 * attest (join token / Kubernetes SA token), renew, jwt and the revocation feed (the caller's
 * X.509-SVID over mTLS), bundle/CRL (public by nature). Everything else needs an admin token.
 */
export async function identityRoutes(app: FastifyInstance, ctx: ControlPlaneContext): Promise<void> {
  const ca = await getAuthority(ctx);
  const identity = await getIdentityService(ctx);
  const adminOf = (request: FastifyRequest): string => (request as FastifyRequest & { adminId?: string }).adminId ?? 'admin';

  const tracking = ctx.config.identity.addressTracking;
  const watch = tracking.enabled
    ? new SvidAddressWatch({
        tracker: new SourceAddressTracker({ ignoreCidrs: tracking.ignoreCidrs, maxSvids: tracking.maxSvids, maxAddressesPerSvid: tracking.maxAddressesPerSvid }),
        holdMs: tracking.holdMs,
        raise: ctx.config.respond.enabled ? async (alarm) => (await getResponder(ctx)).alerts.onAlarm(alarm) : null,
        audit: ctx.audit,
        logger: ctx.logger,
        whenRevoked: (who) => {
          let onChange = () => {};
          const revoked = new Promise<void>((resolve) => {
            onChange = () => {
              if (ca.revocations.revokesSvid(who.spiffeId, who.serial, who.issuerSerials)) resolve();
            };
          });
          ca.revocations.on('change', onChange);
          onChange();
          return { revoked, cancel: () => ca.revocations.off('change', onChange) };
        },
        isRevoked: (who) => ca.revocations.revokesSvid(who.spiffeId, who.serial, who.issuerSerials),
      })
    : null;
  /** Verifies the caller's SVID and checks where it is used from (re-verified after a new-address alert). */
  const verifiedCaller = async (request: FastifyRequest, route: string): Promise<VerifiedSvid> => {
    const peer = peerOf(request, ca);
    const who = identity.verifyPeer(peer);
    if (watch && (await watch.check(who, sourceAddressOf(request), route))) return identity.verifyPeer(peer);
    return who;
  };

  // Serial revocations of certificates that have expired anyway are dropped (keeps the list and CRL
  // small), and records of certificates expired longer than the retention (the table grows by every
  // renewal otherwise). Once at start too: a control plane restarted within the hour still prunes.
  const retentionMs = ctx.config.identity.issuedRetentionDays * 86_400_000;
  const pruneAll = (): void => {
    ca.revocations.prune().catch((err: unknown) => ctx.logger.warn({ err }, 'revocation prune failed'));
    ca.pruneIssued(new Date(Date.now() - retentionMs))
      .then((removed) => {
        if (removed > 0) ctx.logger.info({ removed }, 'records of long-expired certificates pruned');
      })
      .catch((err: unknown) => ctx.logger.warn({ err }, 'issued certificate prune failed'));
  };
  const prune = setInterval(pruneAll, 3600_000);
  prune.unref();
  const firstPrune = setTimeout(pruneAll, 1000);
  firstPrune.unref();
  app.addHook('onClose', async () => {
    clearInterval(prune);
    clearTimeout(firstPrune);
  });

  /**
   * One audit event per credential a workload asks for itself (attest, renew, JWT-SVID), allowed
   * or refused once its body parsed: who (a verified SPIFFE ID only; an attest request's own claim
   * is `requestedSpiffeId`), from where, which serial, which
   * attestor; never a join token or a JWT. An event, not a decision, so allowed-decision sampling
   * never drops one. Written after the fact and awaited; a record that cannot be written is
   * logged and the credential still handed out, so workloads keep renewing during an audit outage.
   */
  const workloadCredential = async <T>(request: FastifyRequest, action: string, issue: (known: Record<string, unknown>) => Promise<T>): Promise<T> => {
    const known: Record<string, unknown> = {};
    let result: T | undefined;
    let code: string | undefined;
    try {
      result = await issue(known);
    } catch (err) {
      code = toWardenError(err).code;
      throw err;
    } finally {
      const { spiffeId, ...details } = known;
      const id = typeof spiffeId === 'string' ? spiffeId : undefined;
      // A body that did not parse names no credential: nothing to investigate, and a record per
      // anonymous malformed request would let anyone grow the log.
      if (code !== 'WARDEN_INPUT_INVALID')
        await ctx.audit
        .append({ ts: new Date().toISOString(), kind: 'event', action, principal: id ? `Service::${JSON.stringify(id)}` : undefined, resource: id, decision: code ? 'deny' : 'allow', code, sourceIp: sourceAddressOf(request), requestId: request.id, details })
        .catch((err: unknown) => ctx.logger.error({ action, code: toWardenError(err).code }, 'could not audit a workload credential'));
    }
    return result as T;
  };

  // ---- workload-facing (public, self-authenticated) ----
  app.post('/identity/attest', { config: pub, bodyLimit: SMALL_BODY }, async (request) =>
    workloadCredential(request, 'identity.workload.attest', async (known) => {
      const body = parse(attestBody, request.body);
      known.attestor = body.joinToken !== undefined ? 'join_token' : body.k8sToken !== undefined ? 'k8s' : undefined;
      // Asked for, not verified: a detail, never the record's principal (a refused caller names anyone).
      if (body.spiffeId !== undefined) known.requestedSpiffeId = body.spiffeId;
      const svid = await identity.attest(body);
      Object.assign(known, { spiffeId: svid.spiffeId, serial: svid.serial, attestedBy: svid.attestedBy, notAfter: svid.notAfter.toISOString() });
      watch?.learnIssued(svid.serial, sourceAddressOf(request));
      ctx.logger.info({ spiffeId: svid.spiffeId, serial: svid.serial, attestedBy: svid.attestedBy.split(':')[0] }, 'workload attested');
      return { ...svidResponse(svid), attestedBy: svid.attestedBy };
    }),
  );

  app.post('/identity/renew', { config: pub, bodyLimit: SMALL_BODY }, async (request) =>
    workloadCredential(request, 'identity.workload.renew', async (known) => {
      const body = parse(csrBody, request.body);
      const who = await verifiedCaller(request, 'renew');
      Object.assign(known, { spiffeId: who.spiffeId, callerSerial: who.serial });
      const svid = await identity.renewVerified(who, body.csr, body.ttlSeconds);
      Object.assign(known, { serial: svid.serial, notAfter: svid.notAfter.toISOString() });
      watch?.learnIssued(svid.serial, sourceAddressOf(request));
      return svidResponse(svid);
    }),
  );

  app.post('/identity/jwt', { config: pub, bodyLimit: SMALL_BODY }, async (request) =>
    workloadCredential(request, 'identity.workload.jwt', async (known) => {
      const body = parse(jwtBody, request.body);
      const who = await verifiedCaller(request, 'jwt');
      Object.assign(known, { spiffeId: who.spiffeId, callerSerial: who.serial, audience: body.audience });
      const jwt = await identity.jwtSvidVerified(who, body.audience, body.ttlSeconds);
      known.expiresAt = jwt.expiresAt.toISOString();
      return { spiffeId: jwt.spiffeId, token: jwt.token, audience: jwt.audience, expiresAt: jwt.expiresAt.toISOString() };
    }),
  );

  app.get('/identity/bundle', { config: pub }, async (_request, reply) => {
    reply.type('application/x-pem-file');
    return ca.bundlePem();
  });

  app.get('/identity/bundle.json', { config: pub }, async (_request, reply) => {
    reply.type('application/json');
    return ca.jwks();
  });

  app.get('/identity/crl', { config: pub }, async (request, reply) => {
    const crl = await ca.crl();
    if ((request.query as { format?: string }).format === 'pem') {
      reply.type('application/x-pem-file');
      return crl.pem;
    }
    reply.type('application/pkix-crl');
    return Buffer.from(crl.der);
  });

  app.get('/identity/revocations', { config: pub }, async (request) => {
    await verifiedCaller(request, 'revocations');
    return ca.revocations.snapshot();
  });

  // Server-sent events: a full snapshot on connect, then each change as it happens.
  const revocationStreams = new Set<() => void>();
  // Hijacked streams are not fastify's to close: without this, shutdown waits for the subscribers forever.
  app.addHook('preClose', async () => {
    for (const end of revocationStreams) end();
  });
  app.get('/identity/revocations/stream', { config: pub }, async (request, reply) => {
    const who: VerifiedSvid = await verifiedCaller(request, 'revocations/stream');
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    send('snapshot', ca.revocations.snapshot());
    const onChange = (added: RevocationEntry[]) => {
      send('revoked', { version: ca.revocations.version, entries: added });
      // A subscriber whose own identity was just revoked loses the feed too.
      if (ca.revocations.revokesSvid(who.spiffeId, who.serial, who.issuerSerials)) res.end();
    };
    ca.revocations.on('change', onChange);
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), REVOCATION_HEARTBEAT_MS);
    heartbeat.unref();
    const end = (): void => void res.end();
    revocationStreams.add(end);
    const stop = () => {
      clearInterval(heartbeat);
      ca.revocations.off('change', onChange);
      revocationStreams.delete(end);
    };
    res.on('close', stop);
    request.raw.on('close', stop);
  });

  // ---- admin ----
  app.get('/identity/entries', async () => ({ entries: await identity.entries.list() }));

  app.post('/identity/entries', { bodyLimit: SMALL_BODY }, async (request, reply) => {
    const body = parse(entryBody, request.body);
    const entry = await auditedChange(
      ctx,
      request,
      { action: 'identity.entry.create', resource: body.spiffeId, details: { selectors: body.selectors } },
      () => identity.entries.create({ ...body, by: adminOf(request) }),
      (e) => ({ resource: e.spiffeId, details: { entryId: e.id, selectors: e.selectors } }),
    );
    reply.code(201);
    return entry;
  });

  app.delete('/identity/entries/:id', async (request) => {
    const entryId = (request.params as { id: string }).id;
    const entry = await auditedChange(ctx, request, { action: 'identity.entry.delete', details: { entryId } }, () => identity.entries.delete(entryId), (e) => ({ resource: e.spiffeId }));
    return entry;
  });

  app.post('/identity/tokens', { bodyLimit: SMALL_BODY }, async (request, reply) => {
    const body = parse(tokenBody, request.body);
    // The token itself is returned once and never audited or logged.
    const { token, record } = await auditedChange(
      ctx,
      request,
      { action: 'identity.token.create', resource: body.spiffeId },
      () => identity.tokens.create({ spiffeId: body.spiffeId, ttlSeconds: body.ttlSeconds ?? identity.config.joinTokenTtlSeconds, by: adminOf(request) }),
      (created) => ({ resource: created.record.spiffeId, details: { tokenId: created.record.id, expiresAt: created.record.expiresAt } }),
    );
    reply.code(201);
    return { token, ...record };
  });

  const issueHandler = async (request: FastifyRequest) => {
    const body = parse(issueBody, request.body);
    // A remote gateway (PEP token) may obtain only its own kind of SVID, never a workload's.
    if (request.adminRole === 'pep' && !body.spiffeId.startsWith(`spiffe://${ca.trustDomain}/warden/gateway/`)) {
      throw new WardenError('WARDEN_AUTHN_PEP_TOKEN_SCOPE', `a PEP token may only request spiffe://${ca.trustDomain}/warden/gateway/… SVIDs`);
    }
    if (request.adminRole === 'pep') {
      const refused = (body.dnsNames ?? []).find((name) => !dnsNameAllowed(name, identity.config.gatewayDnsNames));
      if (refused !== undefined) throw new WardenError('WARDEN_AUTHN_PEP_TOKEN_SCOPE', `DNS name ${JSON.stringify(refused.slice(0, 253))} is not in identity.gatewayDnsNames`);
    }
    if (ca.revocations.hasSpiffeId(body.spiffeId)) throw new WardenError('WARDEN_IDENTITY_REVOKED', `${body.spiffeId} is revoked`);
    const svid = await auditedChange(
      ctx,
      request,
      { action: 'identity.svid.issue', resource: body.spiffeId },
      () => ca.issueX509SvidFromCsr(body.csr, { spiffeId: body.spiffeId, ttlSeconds: body.ttlSeconds, dnsNames: body.dnsNames, root: body.root }),
      (s) => ({ resource: s.spiffeId, details: { serial: s.serial, notAfter: s.notAfter.toISOString() } }),
    );
    return svidResponse(svid);
  };
  app.post('/identity/issue', { bodyLimit: SMALL_BODY, config: { pep: true } }, issueHandler);
  // REST alias: POST to the collection creates an SVID.
  app.post('/identity/svids', { bodyLimit: SMALL_BODY }, issueHandler);

  app.post('/identity/jwt-svids', { bodyLimit: SMALL_BODY }, async (request) => {
    const body = parse(adminJwtBody, request.body);
    if (ca.revocations.hasSpiffeId(body.spiffeId)) throw new WardenError('WARDEN_IDENTITY_REVOKED', `${body.spiffeId} is revoked`);
    const jwt = await auditedChange(
      ctx,
      request,
      { action: 'identity.jwt.issue', resource: body.spiffeId, details: { audience: body.audience } },
      () => ca.issueJwtSvid(body),
      (j) => ({ resource: j.spiffeId, details: { audience: j.audience, expiresAt: j.expiresAt.toISOString() } }),
    );
    return { spiffeId: jwt.spiffeId, token: jwt.token, audience: jwt.audience, expiresAt: jwt.expiresAt.toISOString() };
  });

  app.get('/identity/svids', async (request) => {
    const q = parse(svidsQuery, request.query);
    const rows = await ca.listIssued({ spiffeId: q.spiffeId, includeExpired: q.includeExpired === 'true', limit: q.limit });
    return {
      svids: rows.map((r) => ({
        serial: r.serial,
        spiffeId: r.spiffeId,
        kind: r.kind,
        notBefore: r.notBefore.toISOString(),
        notAfter: r.notAfter.toISOString(),
        issuedAt: r.issuedAt.toISOString(),
        revoked: ca.revocations.isRevoked(r.spiffeId, r.serial),
      })),
    };
  });

  app.post('/identity/revoke', { bodyLimit: SMALL_BODY }, async (request) => {
    const body = parse(revokeBody, request.body);
    await auditedChange(ctx, request, { action: 'identity.revoke', resource: body.spiffeId, details: { serial: body.serial, reason: body.reason }, takesAccessAway: true }, () => ca.revoke({ ...body, by: adminOf(request) }));
    ctx.events.emit('snapshot:changed', request);
    return { revoked: body.spiffeId ? { spiffeId: body.spiffeId } : { serial: body.serial }, version: ca.revocations.version };
  });

  app.get('/identity/ca', async () => ({ trustDomain: ca.trustDomain, sequence: ca.sequence, generations: ca.generations() }));

  app.post('/identity/ca/rotate', { bodyLimit: SMALL_BODY }, async (request) => {
    const body = parse(rotateBody, request.body);
    const generations = await auditedChange(ctx, request, { action: 'identity.ca.rotate', details: { prepareOnly: body.prepareOnly === true } }, () => ca.rotate(body));
    ctx.events.emit('snapshot:changed', request);
    return { trustDomain: ca.trustDomain, sequence: ca.sequence, generations };
  });
}
