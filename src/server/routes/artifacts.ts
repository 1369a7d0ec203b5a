import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { WardenError } from '../../errors/index.js';
import type { Authorizer } from '../../policy/index.js';
import { getAuthority } from '../../identity/index.js';
import { createArtifactServices, admissionTableToJson, lineageKey, parseOpenLineageEvent, type ArtifactServices } from '../../artifacts/index.js';
import type { ControlPlaneContext } from '../ControlPlaneContext.js';
import { parseBody } from './parseBody.js';
import { frozenDatasetCheck } from '../../respond/index.js';
import { auditedChange, type AdminChangeIntent, type AdminChangeOutcome } from '../auditedChange.js';

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
 * affect what gateways may serve emit 'snapshot:changed'; every change is made only once its
 * 'attempted' admin audit record is durable, and a 'committed' or 'failed' record follows
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
  /**
   * Makes a change only once its 'attempted' record is durable (see auditedChange). A committed
   * change that affects serving is announced even when its 'committed' record cannot be written:
   * auditedChange then logs the loss and returns, and PEPs must not keep serving what was pulled.
   */
  const change = async <T>(request: FastifyRequest, intent: AdminChangeIntent, make: () => Promise<T>, outcome: (r: T) => AdminChangeOutcome, servingChanged: (r: T) => boolean): Promise<T> => {
    const r = await auditedChange(ctx, request, intent, make, outcome);
    if (servingChanged(r)) ctx.events.emit('snapshot:changed', request);
    return r;
  };
  const versionResource = (n: string, ver: string) => `ArtifactVersion::${JSON.stringify(`${n}@${ver}`)}`;

  app.get('/artifacts', async (request) => {
    const q = parse(listQuery, request.query);
    return { artifacts: await reg.list(q.kind) };
  });

  app.post('/artifacts', { bodyLimit: 64 * 1024 * 1024 }, async (request, reply) => {
    const body = parse(registerBody, request.body);
    const { version: v, created } = await change(
      request,
      // The digest comes from the manifest, parsed by the change: it is in the outcome record.
      { action: 'artifacts.register', resource: versionResource(body.name, body.version), details: { kind: body.kind, attestations: body.attestations?.length ?? 0 } },
      () => reg.register(body as Parameters<typeof reg.register>[0]),
      (r) => ({ resource: `ArtifactVersion::${JSON.stringify(r.version.id)}`, details: { kind: r.version.kind, digest: r.version.digest, created: r.created } }),
      // A model's first version makes the model registered: gateways stop admitting it unverified (no serving version yet).
      (r) => r.created && r.version.kind === 'model',
    );
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
    const att = await change(
      request,
      { action: 'artifacts.attest', resource: versionResource(request.params.name, request.params.version) },
      () => reg.attach(request.params.name, request.params.version, body.bundle),
      (a) => ({ details: { attestation: a.id, predicateType: a.predicateType, signer: a.signer.spiffeId ?? a.signer.keyId } }),
      () => false,
    );
    reply.code(201);
    return { attestation: att };
  });

  app.post<VersionParams>('/artifacts/:name/versions/:version/approve', async (request, reply) => {
    const body = parse(approveBody, request.body);
    // A refused approval (WARDEN_ARTIFACT_APPROVER_DENIED) is the change's 'failed' record: decision deny with that code.
    const att = await change(
      request,
      { action: 'artifacts.approve', resource: versionResource(request.params.name, request.params.version), details: { approver: body.principal } },
      () => reg.approve(request.params.name, request.params.version, body.principal, body.comment, { sourceIp: request.ip, region: ctx.config.gateway.region }),
      (a) => ({ details: { attestation: a.id } }),
      () => false,
    );
    reply.code(201);
    return { attestation: att };
  });

  app.post<VersionParams>('/artifacts/:name/versions/:version/promote', async (request) => {
    const body = parse(promoteBody, request.body);
    return change(
      request,
      { action: 'artifacts.promote', resource: versionResource(request.params.name, request.params.version), details: { stage: body.stage } },
      () => reg.promote(request.params.name, request.params.version, body.stage),
      (r) => ({ resource: `ArtifactVersion::${JSON.stringify(r.version.id)}`, details: { digest: r.version.digest, previousServing: r.previousServing } }),
      () => true,
    );
  });

  app.post<VersionParams>('/artifacts/:name/versions/:version/revoke', async (request) => {
    const body = parse(revokeBody, request.body);
    const v = await change(
      request,
      { action: 'artifacts.revoke', resource: versionResource(request.params.name, request.params.version), details: { reason: body.reason }, takesAccessAway: true },
      () => reg.revoke(request.params.name, request.params.version, body.reason),
      (rv) => ({ resource: `ArtifactVersion::${JSON.stringify(rv.id)}`, details: { digest: rv.digest } }),
      () => true,
    );
    return { version: v };
  });

  app.post<{ Params: { name: string } }>('/artifacts/:name/rollback', async (request) => {
    return change(
      request,
      { action: 'artifacts.rollback', resource: `Model::${JSON.stringify(request.params.name)}` },
      () => reg.rollback(request.params.name),
      (r) => ({ details: r }),
      () => true,
    );
  });

  app.get<{ Params: { name: string } }>('/artifacts/:name/blast-radius', async (request) => reg.blastRadius(request.params.name));

  app.post('/lineage', { bodyLimit: 4 * 1024 * 1024 }, async (request, reply) => {
    // Parsed here too so the attempt names the run (an invalid event is refused before any record).
    const runId = parseOpenLineageEvent(request.body).run.runId;
    const r = await change(
      request,
      { action: 'lineage.ingest', resource: `Run::${JSON.stringify(lineageKey.run(runId))}` },
      () => reg.ingestOpenLineage(request.body),
      (res) => ({ resource: `Run::${JSON.stringify(res.run)}`, details: { inputs: res.inputs.length, outputs: res.outputs.length } }),
      () => false,
    );
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
