import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiKeyRepository, keyPrincipal, newApiKeyId, type ApiKeyVerifier } from '../../store/index.js';
import type { ControlPlaneContext } from '../ControlPlaneContext.js';
import { parseBody } from './parseBody.js';
import { cedarEntity, KEY_SCOPE, scopePermitsUnderSchema } from '../keyScopePolicies.js';
import { PolicyRepository } from '../../policy/index.js';
import { WardenError } from '../../errors/index.js';
import { auditedChange } from '../auditedChange.js';

const createKeyBody = z.strictObject({
  name: z.string().min(1).max(64),
  principal: z.string().min(1).max(256).optional(),
  // Only scopes that grant something: a scope the permit generator would skip would show in
  // `keys list` while granting nothing.
  scopes: z.array(z.string().regex(KEY_SCOPE, 'a scope is model:* or model:<name> (1-128 visible characters)')).max(100).optional(),
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
    await refuseOutsideSchema(ctx, input);
    // The id is chosen first so the attempt record, durable before the key exists, names it.
    const id = newApiKeyId();
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

/** With a published schema, a key whose permits the schema refuses would grant nothing: refused at creation. */
async function refuseOutsideSchema(ctx: ControlPlaneContext, input: { name: string; principal?: string; scopes?: string[] }): Promise<void> {
  const schema = (await new PolicyRepository(ctx.db).current())?.schema;
  if (!schema || !input.scopes?.length) return;
  const candidate = { id: 'key_new', principal: keyPrincipal(input), scopes: input.scopes, revokedAt: null, expiresAt: null } as unknown as ApiKeyVerifier;
  const reason = scopePermitsUnderSchema([candidate], schema).grantingNothing.get('key_new');
  if (reason) throw new WardenError('WARDEN_INPUT_INVALID', `the key's model scopes do not match the published policy schema: ${reason}`);
}
