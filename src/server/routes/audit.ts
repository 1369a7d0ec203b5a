import type { FastifyInstance } from 'fastify';
import { WardenError } from '../../errors/index.js';
import { parseAuditQuery, type AuditVerifyReport } from '../../audit/index.js';
import type { ControlPlaneContext } from '../ControlPlaneContext.js';
import { adminPrincipal } from '../adminAuth.js';

function parseIndexParam(text: string | undefined, name: string): number {
  if (text === undefined || !/^(0|[1-9][0-9]{0,15})$/.test(text)) throw new WardenError('WARDEN_INPUT_INVALID', `${name} must be a non-negative integer`);
  return Number(text);
}

/**
 * Audit log admin API (mounted under /api/v1 behind admin auth): records, proofs,
 * checkpoints and a full verification, for the console, runbooks and auditors.
 */
export async function auditRoutes(app: FastifyInstance, ctx: ControlPlaneContext): Promise<void> {
  // A full verify recomputes the whole tree; concurrent callers share one run.
  let verifying: Promise<AuditVerifyReport> | null = null;

  app.get<{ Querystring: Record<string, string> }>('/audit/records', async (request) => {
    const q = parseAuditQuery(request.query ?? {});
    return { entries: await ctx.audit.query(q) };
  });

  app.get('/audit/verify', async () => {
    verifying ??= ctx.audit.verify().finally(() => {
      verifying = null;
    });
    return verifying;
  });

  app.get<{ Params: { index: string } }>('/audit/proof/:index', async (request) => {
    return ctx.audit.prove(parseIndexParam(request.params.index, 'index'), { withRecord: true });
  });

  app.get<{ Querystring: { first?: string; second?: string } }>('/audit/consistency', async (request) => {
    const first = parseIndexParam(request.query.first, 'first');
    const second = request.query.second === undefined ? undefined : parseIndexParam(request.query.second, 'second');
    return ctx.audit.proveConsistency(first, second);
  });

  app.get('/audit/checkpoint', async () => {
    const checkpoint = ctx.audit.latestCheckpoint();
    if (!checkpoint) throw new WardenError('WARDEN_AUDIT_NO_CHECKPOINT');
    return { checkpoint, verifierKey: ctx.audit.verifierKey, size: ctx.audit.size, queueDepth: ctx.audit.queueDepth };
  });

  app.post('/audit/checkpoint', async (request, reply) => {
    // Recorded first so the checkpoint being published covers who asked for it.
    await ctx.audit.append({
      ts: new Date().toISOString(),
      kind: 'admin',
      action: 'audit.checkpoint.publish',
      principal: adminPrincipal(request),
      resource: 'AuditLog::"default"',
      decision: 'allow',
      sourceIp: request.ip,
      requestId: request.id,
    });
    const checkpoint = await ctx.audit.publishCheckpoint();
    reply.code(201);
    return { checkpoint, verifierKey: ctx.audit.verifierKey };
  });
}
