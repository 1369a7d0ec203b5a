import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { BlockedPrincipalRepository } from '../../store/index.js';
import { cedarEntity } from '../../policy/index.js';
import { WardenError } from '../../errors/index.js';
import type { ControlPlaneContext } from '../ControlPlaneContext.js';
import { adminPrincipal } from '../adminAuth.js';
import { auditedChange } from '../auditedChange.js';
import { parseBody } from './parseBody.js';

const blockBody = z.strictObject({
  principal: z.string().min(1).max(300),
  ttlSeconds: z.number().int().min(1).max(366 * 86400).optional(),
  reason: z.string().min(1).max(500).optional(),
});
const unblockBody = z.strictObject({ principal: z.string().min(1).max(300) });

/** The principal as gateways compare it: the grammar of `keys create --principal`, canonical. */
function principalOf(text: string): string {
  const principal = cedarEntity(text);
  if (principal === null) throw new WardenError('WARDEN_INPUT_INVALID', 'principal must be a Cedar entity like User::"alice" (type names of letters, digits and _, a quoted id without control or invisible characters)');
  return principal;
}

/**
 * Blocked principals: refused at every PEP whatever credential they present (the contain-extraction
 * runbook's block-principal blocks them too). Blocking and unblocking are audited admin changes.
 */
export async function principalRoutes(app: FastifyInstance, ctx: ControlPlaneContext): Promise<void> {
  const repo = new BlockedPrincipalRepository(ctx.db);

  app.get('/principals/blocked', async () => ({ blocks: await repo.active() }));

  app.post('/principals/block', async (request) => {
    const input = parseBody(blockBody, request.body);
    const principal = principalOf(input.principal);
    const expiresAt = input.ttlSeconds ? new Date(Date.now() + input.ttlSeconds * 1000) : null;
    const { block, changed } = await auditedChange(
      ctx,
      request,
      { action: 'principals.block', resource: principal, details: { ttlSeconds: input.ttlSeconds ?? null }, takesAccessAway: true },
      () => repo.block({ principal, expiresAt, blockedBy: adminPrincipal(request), reason: input.reason ?? null }),
      (r) => ({ details: { changed: r.changed, expiresAt: r.block.expiresAt?.toISOString() ?? null } }),
    );
    if (changed) ctx.events.emit('snapshot:changed', request);
    return { block, changed };
  });

  app.post('/principals/unblock', async (request) => {
    const principal = principalOf(parseBody(unblockBody, request.body).principal);
    const lifted = await auditedChange(ctx, request, { action: 'principals.unblock', resource: principal }, async () => {
      const b = await repo.unblock(principal);
      if (!b) throw new WardenError('WARDEN_NOT_FOUND', `${principal} is not blocked`);
      return b;
    });
    ctx.events.emit('snapshot:changed', request);
    return { block: lifted };
  });
}
