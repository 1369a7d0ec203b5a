import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { WardenError } from '../../errors/index.js';
import { ApiKeyRepository } from '../../store/index.js';
import {
  MAX_POLICY_TEXT_BYTES,
  PolicyRepository,
  analyzePolicySet,
  assertNoReservedPolicyIds,
  assertSplitMatchesCedar,
  compilePolicySet,
  explainDecision,
  parseAuthzRequest,
  parsePolicySet,
  type CedarEntityJson,
  type CompiledPolicySet,
  type PolicyVersion,
} from '../../policy/index.js';
import type { ControlPlaneContext } from '../ControlPlaneContext.js';
import { parseBody } from './parseBody.js';
import { auditedChange } from '../auditedChange.js';
import { loadEnforcedPolicies, withKeyScopes } from '../enforcedPolicies.js';

const BODY_LIMIT = MAX_POLICY_TEXT_BYTES + 2 * 1024 * 1024;
const entitiesSchema = z.array(z.record(z.string(), z.unknown())).max(100_000);
const putBody = z.strictObject({
  policies: z.string().max(MAX_POLICY_TEXT_BYTES),
  /** Omitted: keep the current version's schema. null: no schema. */
  schema: z.string().max(1024 * 1024).nullable().optional(),
  entities: entitiesSchema.optional(),
  comment: z.string().max(500).optional(),
});
const checkBody = putBody.omit({ comment: true });
const explainBody = z.strictObject({
  principal: z.unknown(),
  action: z.unknown(),
  resource: z.unknown(),
  context: z.record(z.string(), z.unknown()).optional(),
  principalParents: z.array(z.unknown()).max(256).optional(),
  resourceParents: z.array(z.unknown()).max(256).optional(),
  /** Explain against this text instead of the published set (what-if). */
  policies: z.string().max(MAX_POLICY_TEXT_BYTES).optional(),
  schema: z.string().max(1024 * 1024).optional(),
  entities: entitiesSchema.optional(),
  /** Add the API keys' generated permits: default true for the published set (as PEPs), false for what-if. */
  includeKeyScopes: z.boolean().optional(),
});
const rollbackBody = z.strictObject({ version: z.number().int().positive() });

const parse = parseBody;

function summary(v: PolicyVersion, set: CompiledPolicySet) {
  return {
    version: v.version,
    digest: v.digest,
    author: v.author,
    comment: v.comment,
    rolledBackFrom: v.rolledBackFrom,
    createdAt: v.createdAt.toISOString(),
    policyCount: set.policies.length,
    policyIds: set.policies.map((p) => p.id),
    fallback: set.fallback,
    fallbackReasons: set.fallbackReasons,
  };
}

/**
 * Policy administration, mounted under /api/v1 behind admin authentication:
 * GET/PUT /policies, POST /policies/check, POST /policies/explain, GET /policies/versions[/:v],
 * POST /policies/rollback, GET /policies/analyze?days=N.
 */
export async function policyRoutes(app: FastifyInstance, ctx: ControlPlaneContext): Promise<void> {
  const repo = new PolicyRepository(ctx.db);
  const adminOf = (request: FastifyRequest): string => (request as FastifyRequest & { adminId?: string }).adminId ?? 'admin';
  const compileVersion = (v: PolicyVersion): CompiledPolicySet =>
    compilePolicySet(v.policies, { schemaText: v.schema ?? undefined, entities: v.entities, version: String(v.version) });
  // Published schema and entities, version label as PEPs report it (0: nothing published).
  const compileEnforced = (published: PolicyVersion | null, text: string): CompiledPolicySet =>
    compilePolicySet(text, { schemaText: published?.schema ?? undefined, entities: published?.entities ?? [], version: String(published?.version ?? 0) });
  const requireCurrent = async (): Promise<PolicyVersion> => {
    const v = await repo.current();
    if (!v) throw new WardenError('WARDEN_POLICY_NONE', 'no policy set has been published yet (warden policy push FILE)');
    return v;
  };
  const validate = async (body: z.infer<typeof checkBody>) => {
    const schema = body.schema === undefined ? ((await repo.current())?.schema ?? null) : body.schema;
    const entities = (body.entities ?? []) as unknown as CedarEntityJson[];
    const set = compilePolicySet(body.policies, { schemaText: schema ?? undefined, entities });
    assertSplitMatchesCedar(body.policies);
    assertNoReservedPolicyIds(set.policies);
    if (set.fallback && !ctx.config.policy.allowFallback) {
      throw new WardenError('WARDEN_POLICY_UNSUPPORTED', `the set needs the cedar-wasm fallback, which policy.allowFallback forbids: ${set.fallbackReasons.join('; ')}`);
    }
    return { set, schema, entities };
  };

  app.get('/policies', async () => {
    const v = await requireCurrent();
    return { ...summary(v, compileVersion(v)), policies: v.policies, schema: v.schema, entities: v.entities };
  });

  app.put('/policies', { bodyLimit: BODY_LIMIT }, async (request) => {
    const body = parse(putBody, request.body);
    const { set, schema, entities } = await validate(body);
    const version = await auditedChange(
      ctx,
      request,
      { action: 'policy.publish', resource: 'policy-set', details: { policyCount: set.policies.length, fallback: set.fallback, comment: body.comment } },
      () => repo.publish({ policies: body.policies, schema, entities, comment: body.comment }, adminOf(request)),
      (v) => ({ details: { version: v } }),
    );
    ctx.events.emit('snapshot:changed', request);
    ctx.logger.info({ version, policies: set.policies.length, fallback: set.fallback }, 'policy set published');
    return summary(await repo.get(version), set);
  });

  app.post('/policies/check', { bodyLimit: BODY_LIMIT }, async (request) => {
    const { set } = await validate(parse(checkBody, request.body));
    return { ok: true, version: set.version, policyCount: set.policies.length, policyIds: set.policies.map((p) => p.id), fallback: set.fallback, fallbackReasons: set.fallbackReasons };
  });

  app.post('/policies/explain', { bodyLimit: BODY_LIMIT }, async (request) => {
    const body = parse(explainBody, request.body);
    const authz = parseAuthzRequest(body);
    if (body.policies !== undefined) {
      const keyScopesIncluded = body.includeKeyScopes ?? false;
      const options = { schemaText: body.schema, entities: body.entities as unknown as CedarEntityJson[] | undefined };
      let text = body.policies;
      if (keyScopesIncluded) {
        const apiKeys = await new ApiKeyRepository(ctx.db, ctx.serverSecret).listVerifiers();
        text = withKeyScopes(text, body.schema ?? null, new Set(parsePolicySet(text).map((p) => p.id)), apiKeys).text;
      }
      return { ...explainDecision(compilePolicySet(text, options), authz), keyScopesIncluded };
    }
    // What the gateway decides from (as the snapshot builds it), unless asked for the published set alone.
    const keyScopesIncluded = body.includeKeyScopes ?? true;
    const enforced = await loadEnforcedPolicies(ctx);
    const set = compileEnforced(enforced.published, keyScopesIncluded ? enforced.text : (enforced.published?.policies ?? ''));
    return { ...explainDecision(set, authz), keyScopesIncluded };
  });

  app.get('/policies/versions', async () => ({ versions: (await repo.list()).map((v) => ({ ...v, createdAt: v.createdAt.toISOString() })) }));

  app.get<{ Params: { version: string } }>('/policies/versions/:version', async (request) => {
    const v = await repo.get(Number(request.params.version));
    return { ...summary(v, compileVersion(v)), policies: v.policies, schema: v.schema, entities: v.entities };
  });

  app.post('/policies/rollback', async (request) => {
    const { version: target } = parse(rollbackBody, request.body);
    const old = await repo.get(target);
    const set = compileVersion(old); // still valid with today's engine?
    const version = await auditedChange(
      ctx,
      request,
      { action: 'policy.rollback', resource: 'policy-set', details: { rolledBackTo: target } },
      () => repo.rollback(target, adminOf(request)),
      (v) => ({ details: { version: v } }),
    );
    ctx.events.emit('snapshot:changed', request);
    ctx.logger.info({ version, rolledBackTo: target }, 'policy set rolled back');
    return summary(await repo.get(version), set);
  });

  app.get<{ Querystring: { days?: string } }>('/policies/analyze', async (request) => {
    const days = request.query.days === undefined ? ctx.config.policy.unusedGrantDays : Number(request.query.days);
    if (!Number.isInteger(days) || days < 1 || days > 3650) throw new WardenError('WARDEN_INPUT_INVALID', 'days must be an integer from 1 to 3650');
    const enforced = await loadEnforcedPolicies(ctx);
    const now = new Date();
    const entries = await ctx.audit.query({ kind: 'decision', since: new Date(now.getTime() - days * 86_400_000), limit: 10_000 });
    return analyzePolicySet(compileEnforced(enforced.published, enforced.text), {
      keyScopes: enforced.keyScopes.grants,
      audit: entries.map((e) => e.record),
      days,
      now,
      sensitiveResourceTypes: ctx.config.policy.sensitiveResourceTypes,
      sensitiveActions: ctx.config.policy.sensitiveActions,
    });
  });
}
