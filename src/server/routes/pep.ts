import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AdminTokenRepository, announceChange, newAdminTokenId } from '../../store/index.js';
import { z } from 'zod';
import { toWardenError, WardenError } from '../../errors/index.js';
import type { AuditRecord } from '../../audit/index.js';
import type { DecisionEvent } from '../../observe/index.js';
import type { ControlPlaneContext } from '../ControlPlaneContext.js';
import { parseBody } from './parseBody.js';
import type { SnapshotPublisher } from '../SnapshotPublisher.js';
import type { SnapshotWire } from '../../gateway/index.js';
import { auditedChange } from '../auditedChange.js';
import { coalesce } from '../coalesce.js';
import { PEP_TOKENS_CHANGED } from '../replicaChanges.js';
import { pepAuditRecords } from '../pepAuditRecords.js';

const PEP_NAME = /^[A-Za-z0-9._:-]{1,64}$/;
const MAX_BATCH = 5000;
/** A remote gateway's batch id (RemoteAuditWriter sends a UUID in the idempotency-key header). */
const BATCH_ID = /^[A-Za-z0-9_-]{16,64}$/;

const statusBody = z.strictObject({ name: z.string().regex(PEP_NAME), snapshotVersion: z.number().int().min(0), policyVersion: z.number().int().min(0) });
const tokenBody = z.strictObject({ name: z.string().regex(PEP_NAME) });
const auditBody = z.strictObject({ pep: z.string().regex(PEP_NAME), records: z.array(z.record(z.string(), z.unknown())).min(1).max(MAX_BATCH) });

/** The alert engine's view of a remote gateway's decision record (same as the in-process observer's). */
export function decisionEventOf(r: AuditRecord): DecisionEvent | null {
  if (r.kind !== 'decision' || typeof r.sourceIp !== 'string') return null;
  const denied = r.decision === 'deny';
  if (!r.principal && !denied) return null;
  const principalId = r.details?.principalId;
  const authn = r.details?.authn;
  const at = Date.parse(r.ts);
  return {
    principal: r.principal ?? null,
    principalId: typeof principalId === 'string' ? principalId : null,
    authn: typeof authn === 'string' ? authn : null,
    decision: denied ? 'deny' : 'allow',
    code: r.code ?? null,
    sourceIp: r.sourceIp,
    model: r.model ?? null,
    at: Number.isFinite(at) ? at : undefined,
  };
}

/**
 * Batch ids a PEP recently had stored, per PEP (token + name), in bounded memory: a gateway that
 * lost the reply resends the batch with the same id, and is answered without storing it twice.
 * A batch still being stored is shared, so a retry that overtakes it waits for the same result.
 */
export class RecentAuditBatches {
  private readonly byPep = new Map<string, Map<string, Promise<number>>>();

  constructor(
    private readonly maxPeps = 1024,
    private readonly perPep = 1024,
  ) {}

  /** Runs `store` unless this batch id was (or is being) stored for this PEP; `duplicate` says which. */
  async once(pep: string, batchId: string, store: () => Promise<number>): Promise<{ accepted: number; duplicate: boolean }> {
    const ids = this.idsOf(pep);
    const seen = ids.get(batchId);
    if (seen) return { accepted: await seen, duplicate: true };
    const stored = store();
    ids.set(batchId, stored);
    if (ids.size > this.perPep) ids.delete(ids.keys().next().value!);
    // A batch that failed to store is not a duplicate: the retry must store it.
    stored.catch(() => ids.get(batchId) === stored && ids.delete(batchId));
    return { accepted: await stored, duplicate: false };
  }

  private idsOf(pep: string): Map<string, Promise<number>> {
    let ids = this.byPep.get(pep);
    if (ids) this.byPep.delete(pep); // re-inserted: most recently used last
    else ids = new Map();
    this.byPep.set(pep, ids);
    if (this.byPep.size > this.maxPeps) this.byPep.delete(this.byPep.keys().next().value!);
    return ids;
  }
}

/**
 * The PEP channel: remote gateways receive snapshots over a long-lived SSE stream, report the
 * version they enforce, and ship audit batches (acknowledged only once durable).
 */
export async function pepRoutes(app: FastifyInstance, ctx: ControlPlaneContext, publisher: SnapshotPublisher): Promise<void> {
  /** Open snapshot streams by the token that opened them (ended when that token is revoked). */
  const streamsByToken = new Map<string, Set<() => void>>();
  // Hijacked streams are not fastify's to close: without this, shutdown waits for the PEPs forever.
  app.addHook('preClose', async () => {
    for (const ends of streamsByToken.values()) for (const end of ends) end();
  });
  app.get<{ Querystring: { name?: string } }>('/pep/stream', { config: { pep: true } }, async (request, reply) => {
    const name = request.query.name ?? 'unnamed';
    if (!PEP_NAME.test(name)) throw new WardenError('WARDEN_INPUT_INVALID', 'name must be 1-64 characters of A-Z a-z 0-9 . _ : -');
    const tokenId = request.adminId ?? '';
    // A stream is never refused because of the PEP table (a full table leaves this name out of it).
    publisher.peps.report(tokenId, name, undefined, { optional: true });
    const streamClosed = publisher.peps.streamOpened(tokenId, name);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    // sentAt: this clock now, so the PEP counts what is left of the snapshot's life on its own clock.
    const send = (wire: SnapshotWire): void => {
      res.write(`event: snapshot\ndata: ${JSON.stringify({ ...wire, sentAt: Date.now() })}\n\n`);
    };
    const current = publisher.currentWire();
    if (current) send(current);
    const unsubscribe = publisher.subscribe(send);
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    // Revoking the token that opened this stream ends it: the gateway cannot reconnect and fails closed at the snapshot TTL.
    const end = (): void => void res.end();
    let ends = streamsByToken.get(tokenId);
    if (!ends) streamsByToken.set(tokenId, (ends = new Set()));
    ends.add(end);
    request.raw.once('close', () => {
      clearInterval(heartbeat);
      unsubscribe();
      streamClosed();
      ends.delete(end);
      if (ends.size === 0) streamsByToken.delete(tokenId);
    });
  });

  app.post('/pep/status', { config: { pep: true } }, async (request) => {
    const status = parseBody(statusBody, request.body);
    publisher.peps.report(request.adminId ?? '', status.name, { snapshotVersion: status.snapshotVersion, policyVersion: status.policyVersion });
    return { ok: true };
  });

  app.get('/pep/peps', async () => ({ peps: publisher.peps.list(), currentVersion: publisher.currentWire()?.version ?? null }));

  const recentBatches = new RecentAuditBatches();
  app.post('/pep/audit', { bodyLimit: 16 * 1024 * 1024, config: { pep: true } }, async (request) => {
    const batch = parseBody(auditBody, request.body);
    const batchId = request.headers['idempotency-key'];
    if (batchId !== undefined && (typeof batchId !== 'string' || !BATCH_ID.test(batchId))) throw new WardenError('WARDEN_INPUT_INVALID', 'idempotency-key must be 16-64 characters of A-Z a-z 0-9 _ -');
    // Checked whole before anything is stored; each record says which PEP token delivered it, and when.
    const records = pepAuditRecords(batch.records, { pep: batch.pep, pepTokenId: request.adminId ?? '', receivedAt: new Date().toISOString() }, Date.now(), ctx.config.audit.maxRecordBytes);
    const store = async (): Promise<number> => {
      await Promise.all(records.map((r) => ctx.audit.append(r)));
      // Alert rules over gateway decisions (deny bursts, new source addresses) see remote gateways
      // the same way as the in-process one.
      for (const r of records) {
        const event = decisionEventOf(r);
        if (event) ctx.events.emit('gateway.decision', event);
      }
      return records.length;
    };
    if (batchId === undefined) return { accepted: await store() };
    const { accepted, duplicate } = await recentBatches.once(`${request.adminId ?? ''}\n${batch.pep}`, batchId, store);
    return duplicate ? { accepted, duplicate: true } : { accepted };
  });

  // PEP tokens: what a remote gateway is given instead of an admin token (admin tokens only).
  const tokens = new AdminTokenRepository(ctx.db, ctx.serverSecret);
  const tokenChange = <T>(request: FastifyRequest, action: string, id: string, change: () => Promise<T>, details?: Record<string, unknown>) =>
    auditedChange(ctx, request, { action, resource: `PepToken::${JSON.stringify(id)}`, details, takesAccessAway: action === 'pep.token.revoke' }, change);
  app.post('/pep/tokens', { bodyLimit: 4096 }, async (request, reply) => {
    const body = parseBody(tokenBody, request.body);
    // The token is returned once and never audited or logged; its id is chosen first so the attempt record names it.
    const id = newAdminTokenId();
    const created = await tokenChange(request, 'pep.token.create', id, () => tokens.create(body.name, 'pep', id), { name: body.name });
    reply.code(201);
    return { id: created.id, name: body.name, token: created.token };
  });
  app.get('/pep/tokens', async () => ({ tokens: await tokens.list('pep') }));
  app.post<{ Params: { id: string } }>('/pep/tokens/:id/revoke', async (request) => {
    const id = request.params.id;
    if (!(await tokens.list('pep')).some((t) => t.id === id && !t.revokedAt)) throw new WardenError('WARDEN_NOT_FOUND', `no active PEP token ${JSON.stringify(id.slice(0, 64))}`);
    // Revoked between the check and the change (a concurrent revoke): the change fails and says so.
    await tokenChange(request, 'pep.token.revoke', id, async () => {
      if (!(await tokens.revoke(id, 'pep'))) throw new WardenError('WARDEN_NOT_FOUND', `no active PEP token ${JSON.stringify(id.slice(0, 64))}`);
    });
    for (const end of streamsByToken.get(id) ?? []) end();
    // Streams this token opened on other control-plane replicas end there on this notice.
    await announceChange(ctx.db, 'pep-tokens').catch((err: unknown) => ctx.logger.warn({ code: toWardenError(err).code }, 'could not notify the other control-plane replicas of a PEP token revocation'));
    return { id: request.params.id, revoked: true };
  });

  // A PEP token revoked through another replica: end the streams it opened here.
  const endRevokedStreams = coalesce(async () => {
    if (streamsByToken.size === 0) return;
    for (const t of await tokens.list('pep')) {
      if (t.revokedAt) for (const end of streamsByToken.get(t.id) ?? []) end();
    }
  });
  const onPepTokensChanged = (): void => {
    endRevokedStreams().catch((err: unknown) => ctx.logger.warn({ code: toWardenError(err).code }, 'could not check PEP tokens revoked through another control-plane replica'));
  };
  ctx.events.on(PEP_TOKENS_CHANGED, onPepTokensChanged);
  app.addHook('onClose', async () => {
    ctx.events.off(PEP_TOKENS_CHANGED, onPepTokensChanged);
  });
}
