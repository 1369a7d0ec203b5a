import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiKeyRepository, keyPrincipal, newApiKeyId, type ApiKeyVerifier } from '../../store/index.js';
import type { ControlPlaneContext } from '../ControlPlaneContext.js';
import { parseBody } from './parseBody.js';
import { isKeyScope, KEY_SCOPE_RULE, scopePermitsUnderSchema } from '../keyScopePolicies.js';
import { cedarEntity, PolicyRepository } from '../../policy/index.js';
import { WardenError } from '../../errors/index.js';
import { auditedChange } from '../auditedChange.js';

const createKeyBody = z.strictObject({
  name: z.string().min(1).max(64),
  principal: z.string().min(1).max(256).optional(),
  // Only scopes that grant something: a scope the permit generator would skip would show in
  // `keys list` while granting nothing.
  scopes: z.array(z.string().refine(isKeyScope, KEY_SCOPE_RULE)).max(100).optional(),
  ttlSeconds: z.number().int().min(1).max(10 * 365 * 86400).optional(),
});

/** API keys: created keys are returned once; the store and every response keep only hashes/prefixes. */
export async function keyRoutes(app: FastifyInstance, ctx: ControlPlaneContext): Promise<void> {
  const repo = new ApiKeyRepository(ctx.db, ctx.serverSecret);

  app.get('/keys', async () => ({ keys: await repo.list() }));

  app.post('/keys', async (request, reply) => {
    const input = parseBody(createKeyBody, request.body);
    if (input.principal !== undefined && cedarEntity(input.principal) === null) {
      throw new WardenError('WARDEN_INPUT_INVALID', 'principal must be a Cedar entity like User::"alice" (type names of letters, digits and _, a quoted id without control or invisible characters)');
    }
    // The id is chosen first so the attempt record, durable before the key exists, names it, and
    // so the permits checked below are the very ones the snapshot will build (their ids hold it).
    const id = newApiKeyId();
    await refuseUnexpressible(ctx, id, input);
    const { record, key } = await auditedChange(
      ctx,
      request,
      { action: 'keys.create', resource: `ApiKey::${JSON.stringify(id)}`, details: { name: input.name, scopes: input.scopes ?? [], ttlSeconds: input.ttlSeconds ?? null } },
      () => repo.create({ ...input, id }),
      (created) => ({ details: { scopes: created.record.scopes, expiresAt: created.record.expiresAt } }),
    );
    ctx.events.emit('snapshot:changed', request);
    reply.code(201);
    return { key, record };
  });

  app.post<{ Params: { id: string } }>('/keys/:id/revoke', async (request) => {
    const found = await repo.find(request.params.id);
    if (!found) throw new WardenError('WARDEN_NOT_FOUND', `no API key ${JSON.stringify(request.params.id)}`);
    const record = await auditedChange(ctx, request, { action: 'keys.revoke', resource: `ApiKey::${JSON.stringify(found.id)}`, takesAccessAway: true }, () => repo.revoke(found.id));
    ctx.events.emit('snapshot:changed', request);
    return { record };
  });
}

/**
 * A key whose permits the snapshot would leave out is refused rather than saved granting less than
 * `keys list` shows: a permit that cannot be expressed, or, with a published schema, a key whose
 * permits the schema all refuses.
 */
async function refuseUnexpressible(ctx: ControlPlaneContext, id: string, input: { name: string; principal?: string; scopes?: string[] }): Promise<void> {
  if (!input.scopes?.length) return;
  const schema = (await new PolicyRepository(ctx.db).current())?.schema ?? null;
  const candidate = { id, principal: keyPrincipal(input), scopes: input.scopes, revokedAt: null, expiresAt: null } as unknown as ApiKeyVerifier;
  const permits = scopePermitsUnderSchema([candidate], schema);
  const unexpressible = permits.unexpressible.get(id);
  if (unexpressible) throw new WardenError('WARDEN_INPUT_INVALID', `scopes: a scope cannot be expressed as a Cedar permit: ${unexpressible}`);
  const reason = permits.grantingNothing.get(id);
  if (reason) throw new WardenError('WARDEN_INPUT_INVALID', `the key's model scopes do not match the published policy schema: ${reason}`);
}
