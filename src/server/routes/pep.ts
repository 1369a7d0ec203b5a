import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { WardenError } from '../../errors/index.js';
import type { AuditRecord } from '../../audit/index.js';
import type { DecisionEvent } from '../../observe/index.js';
import type { ControlPlaneContext } from '../ControlPlaneContext.js';
import { parseBody } from './parseBody.js';
import type { SnapshotPublisher } from '../SnapshotPublisher.js';

const PEP_NAME = /^[A-Za-z0-9._:-]{1,64}$/;
const MAX_BATCH = 5000;

const statusBody = z.strictObject({ name: z.string().regex(PEP_NAME), snapshotVersion: z.number().int().min(0), policyVersion: z.number().int().min(0) });
const auditBody = z.strictObject({ pep: z.string().regex(PEP_NAME), records: z.array(z.record(z.string(), z.unknown())).min(1).max(MAX_BATCH) });

/** The alert engine's view of a remote gateway's decision record (same as the in-process observer's). */
export function decisionEventOf(r: AuditRecord): DecisionEvent | null {
  if (r.kind !== 'decision' || typeof r.sourceIp !== 'string') return null;
  const denied = r.decision === 'deny';
  if (!r.principal && !denied) return null;
  const principalId = r.details?.principalId;
  return {
    principal: r.principal ?? null,
    principalId: typeof principalId === 'string' ? principalId : null,
    decision: denied ? 'deny' : 'allow',
    code: r.code ?? null,
    sourceIp: r.sourceIp,
    model: r.model ?? null,
  };
}

/**
 * The PEP channel: remote gateways receive snapshots over a long-lived SSE stream, report the
 * version they enforce, and ship audit batches (acknowledged only once durable).
 */
export async function pepRoutes(app: FastifyInstance, ctx: ControlPlaneContext, publisher: SnapshotPublisher): Promise<void> {
  app.get<{ Querystring: { name?: string } }>('/pep/stream', async (request, reply) => {
    const name = request.query.name ?? 'unnamed';
    if (!PEP_NAME.test(name)) throw new WardenError('WARDEN_INPUT_INVALID', 'name must be 1-64 characters of A-Z a-z 0-9 . _ : -');
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const send = (wire: unknown): void => {
      res.write(`event: snapshot\ndata: ${JSON.stringify(wire)}\n\n`);
    };
    const current = publisher.currentWire();
    if (current) send(current);
    const unsubscribe = publisher.subscribe(send);
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    const now = new Date().toISOString();
    const existing = publisher.peps.get(name);
    publisher.peps.set(name, { name, snapshotVersion: existing?.snapshotVersion ?? 0, policyVersion: existing?.policyVersion ?? 0, connectedAt: now, lastSeenAt: now });
    request.raw.once('close', () => {
      clearInterval(heartbeat);
      unsubscribe();
    });
  });

  app.post('/pep/status', async (request) => {
    const status = parseBody(statusBody, request.body);
    const prev = publisher.peps.get(status.name);
    const now = new Date().toISOString();
    publisher.peps.set(status.name, { ...status, connectedAt: prev?.connectedAt ?? now, lastSeenAt: now });
    return { ok: true };
  });

  app.get('/pep/peps', async () => ({ peps: [...publisher.peps.values()], currentVersion: publisher.currentWire()?.version ?? null }));

  app.post('/pep/audit', { bodyLimit: 16 * 1024 * 1024 }, async (request) => {
    const batch = parseBody(auditBody, request.body);
    const records = batch.records as unknown as AuditRecord[];
    await Promise.all(records.map((r) => ctx.audit.append({ ...r, details: { ...(r.details ?? {}), pep: batch.pep } })));
    // Alert rules over gateway decisions (deny bursts, new source addresses) see remote gateways
    // the same way as the in-process one.
    for (const r of records) {
      const event = decisionEventOf(r);
      if (event) ctx.events.emit('gateway.decision', event);
    }
    return { accepted: records.length };
  });
}
