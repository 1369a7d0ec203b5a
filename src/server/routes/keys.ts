import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiKeyRepository } from '../../store/index.js';
import type { ControlPlaneContext } from '../ControlPlaneContext.js';
import { parseBody } from './parseBody.js';
import { cedarEntity } from '../keyScopePolicies.js';
import { WardenError } from '../../errors/index.js';

const createKeyBody = z.strictObject({
  name: z.string().min(1).max(64),
  principal: z.string().min(1).max(256).optional(),
  scopes: z.array(z.string().min(1).max(200)).max(100).optional(),
  ttlSeconds: z.number().positive().max(10 * 365 * 86400).optional(),
});

/** API keys: created keys are returned once; the store and every response keep only hashes/prefixes. */
export async function keyRoutes(app: FastifyInstance, ctx: ControlPlaneContext): Promise<void> {
  const repo = new ApiKeyRepository(ctx.db, ctx.serverSecret);

  app.get('/keys', async () => ({ keys: await repo.list() }));

  app.post('/keys', async (request, reply) => {
    const input = parseBody(createKeyBody, request.body);
    if (input.principal !== undefined && cedarEntity(input.principal) === null) {
      throw new WardenError('WARDEN_INPUT_INVALID', 'principal must be a Cedar entity like User::"alice" (type names of letters, digits and _, a quoted id without control characters)');
    }
    const { record, key } = await repo.create(input);
    await ctx.audit.append({ ts: new Date().toISOString(), kind: 'admin', action: 'keys.create', principal: `Admin::${JSON.stringify(request.adminId ?? '')}`, resource: `ApiKey::${JSON.stringify(record.id)}`, decision: 'allow', details: { name: record.name, scopes: record.scopes, expiresAt: record.expiresAt } });
    ctx.events.emit('snapshot:changed');
    reply.code(201);
    return { key, record };
  });

  app.post<{ Params: { id: string } }>('/keys/:id/revoke', async (request) => {
    const record = await repo.revoke(request.params.id);
    await ctx.audit.append({ ts: new Date().toISOString(), kind: 'admin', action: 'keys.revoke', principal: `Admin::${JSON.stringify(request.adminId ?? '')}`, resource: `ApiKey::${JSON.stringify(record.id)}`, decision: 'allow' });
    ctx.events.emit('snapshot:changed');
    return { record };
  });
}
