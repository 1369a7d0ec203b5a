import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { WardenError } from '../../errors/index.js';
import type { Authorizer } from '../../policy/index.js';
import { getAuthority } from '../../identity/index.js';
import { createArtifactServices, admissionTableToJson, type ArtifactServices } from '../../artifacts/index.js';
import type { ControlPlaneContext } from '../ControlPlaneContext.js';
import { parseBody } from './parseBody.js';
import { frozenDatasetCheck } from '../../respond/index.js';
import { adminPrincipal } from '../adminAuth.js';

/** Optional wiring the lead may add to the context; without it the config approvers list decides deployModel. */
type ArtifactContext = ControlPlaneContext & { authorizer?: Authorizer };

const name = z.string().min(1).max(128);
const version = z.string().min(1).max(64);
const registerBody = z.strictObject({
  kind: z.enum(['model', 'dataset']),
  name,
  version,
  manifest: z.unknown(),
  attestations: z.array(z.unknown()).max(32).optional(),
  lineage: z.strictObject({ runId: z.string().min(1).max(256).optional(), inputs: z.array(z.string().min(1).max(200)).max(1000).optional() }).optional(),
});
const attachBody = z.strictObject({ bundle: z.unknown() });
const approveBody = z.strictObject({ principal: z.string().min(1).max(300), comment: z.string().max(1000).optional() });
const promoteBody = z.strictObject({ stage: z.enum(['approved', 'serving', 'retired']) });
const revokeBody = z.strictObject({ reason: z.string().min(1).max(500) });
const listQuery = z.strictObject({ kind: z.enum(['model', 'dataset']).optional() });
const lineageQuery = z.strictObject({ direction: z.enum(['upstream', 'downstream']).default('downstream') });

const parse = parseBody;

type VersionParams = { Params: { name: string; version: string } };

/**
 * Artifact registry, attestations, stages, lineage and admission, under /api/v1. Changes that
 * affect what gateways may serve emit 'snapshot:changed'; every change is an admin audit record
 * (identifiers and digests only; bundles and manifests are stored, not logged).
 */
export async function artifactRoutes(app: FastifyInstance, ctx: ControlPlaneContext): Promise<void> {
  const actx = ctx as ArtifactContext;
  let caPem: () => string | undefined = () => undefined;
  let isRevoked: ((s: { spiffeId?: string; serial?: string }) => boolean) | undefined;
  try {
    const ca = await getAuthority(ctx);
    caPem = () => ca.bundlePem();
    isRevoked = (s) => ca.revocations.isRevoked(s.spiffeId, s.serial);
  } catch (err) {
    ctx.logger.warn({ err: (err as { code?: string }).code }, 'identity CA unavailable: workload-signed attestations will not verify');
  }
  const services: ArtifactServices = createArtifactServices({
    config: ctx.config,
    db: ctx.db,
    ...(actx.authorizer ? { authorizer: actx.authorizer } : {}),
    ...(isRevoked ? { isRevoked } : {}),
    caBundlePem: caPem,
    frozenDatasets: frozenDatasetCheck(ctx.db),
  });
  const reg = services.registry;
  /** Called once the change is committed: PEPs get it even when its audit record cannot be written. */
  const audit = async (request: FastifyRequest, action: string, resource: string, details: Record<string, unknown>, servingChanged: boolean) => {
    if (servingChanged) ctx.events.emit('snapshot:changed', request);
    await ctx.audit.append({ ts: new Date().toISOString(), kind: 'admin', principal: adminPrincipal(request), action, resource, decision: 'allow', details });
  };

  app.get('/artifacts', async (request) => {
    const q = parse(listQuery, request.query);
    return { artifacts: await reg.list(q.kind) };
  });

  app.post('/artifacts', { bodyLimit: 64 * 1024 * 1024 }, async (request, reply) => {
    const body = parse(registerBody, request.body);
    const { version: v, created } = await reg.register(body as Parameters<typeof reg.register>[0]);
    // A model's first version makes the model registered: gateways stop admitting it unverified (no serving version yet).
    await audit(request, 'artifacts.register', `ArtifactVersion::${JSON.stringify(v.id)}`, { kind: v.kind, digest: v.digest, attestations: body.attestations?.length ?? 0, created }, created && v.kind === 'model');
    reply.code(created ? 201 : 200);
    return { version: v, created };
  });

  app.get<{ Params: { name: string } }>('/artifacts/:name', async (request) => reg.show(request.params.name));

  app.get<VersionParams & { Querystring: { manifest?: string } }>('/artifacts/:name/versions/:version', async (request) => {
    const { name: n, version: ver } = request.params;
    const v = await reg.getVersion(n, ver);
    return { version: v, attestations: await reg.attestations(v.id), ...(request.query.manifest === '1' ? { manifest: await reg.getManifest(n, ver) } : {}) };
  });

  app.post<VersionParams>('/artifacts/:name/versions/:version/attestations', { bodyLimit: 16 * 1024 * 1024 }, async (request, reply) => {
    const body = parse(attachBody, request.body);
    const att = await reg.attach(request.params.name, request.params.version, body.bundle);
    await audit(request, 'artifacts.attest', `ArtifactVersion::${JSON.stringify(`${request.params.name}@${request.params.version}`)}`, { attestation: att.id, predicateType: att.predicateType, signer: att.signer.spiffeId ?? att.signer.keyId }, false);
    reply.code(201);
    return { attestation: att };
  });

  app.post<VersionParams>('/artifacts/:name/versions/:version/approve', async (request, reply) => {
    const body = parse(approveBody, request.body);
    const id = `${request.params.name}@${request.params.version}`;
    try {
      const att = await reg.approve(request.params.name, request.params.version, body.principal, body.comment, { sourceIp: request.ip, region: ctx.config.gateway.region });
      await audit(request, 'artifacts.approve', `ArtifactVersion::${JSON.stringify(id)}`, { approver: body.principal, attestation: att.id }, false);
      reply.code(201);
      return { attestation: att };
    } catch (err) {
      if (err instanceof WardenError && err.code === 'WARDEN_ARTIFACT_APPROVER_DENIED') {
        await ctx.audit.append({ ts: new Date().toISOString(), kind: 'admin', principal: adminPrincipal(request), action: 'artifacts.approve', resource: `ArtifactVersion::${JSON.stringify(id)}`, decision: 'deny', code: err.code, details: { approver: body.principal } });
      }
      throw err;
    }
  });

  app.post<VersionParams>('/artifacts/:name/versions/:version/promote', async (request) => {
    const body = parse(promoteBody, request.body);
    const r = await reg.promote(request.params.name, request.params.version, body.stage);
    await audit(request, 'artifacts.promote', `ArtifactVersion::${JSON.stringify(r.version.id)}`, { stage: body.stage, digest: r.version.digest, previousServing: r.previousServing }, true);
    return r;
  });

  app.post<VersionParams>('/artifacts/:name/versions/:version/revoke', async (request) => {
    const body = parse(revokeBody, request.body);
    const v = await reg.revoke(request.params.name, request.params.version, body.reason);
    await audit(request, 'artifacts.revoke', `ArtifactVersion::${JSON.stringify(v.id)}`, { reason: body.reason, digest: v.digest }, true);
    return { version: v };
  });

  app.post<{ Params: { name: string } }>('/artifacts/:name/rollback', async (request) => {
    const r = await reg.rollback(request.params.name);
    await audit(request, 'artifacts.rollback', `Model::${JSON.stringify(request.params.name)}`, r, true);
    return r;
  });

  app.get<{ Params: { name: string } }>('/artifacts/:name/blast-radius', async (request) => reg.blastRadius(request.params.name));

  app.post('/lineage', { bodyLimit: 4 * 1024 * 1024 }, async (request, reply) => {
    const r = await reg.ingestOpenLineage(request.body);
    await audit(request, 'lineage.ingest', `Run::${JSON.stringify(r.run)}`, { inputs: r.inputs.length, outputs: r.outputs.length }, false);
    reply.code(201);
    return r;
  });

  app.get<{ Params: { ref: string } }>('/lineage/:ref', async (request) => {
    const q = parse(lineageQuery, request.query);
    if (request.params.ref.length > 1100) throw new WardenError('WARDEN_INPUT_INVALID', 'lineage reference is too long');
    return reg.lineageOf(request.params.ref, q.direction);
  });

  app.get('/admission/models', async () => admissionTableToJson(await services.admissionTable()));
}
