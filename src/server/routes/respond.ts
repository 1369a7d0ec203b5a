import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { WardenError } from '../../errors/index.js';
import { getResponder, matchLeakReport, revokeLeakedTokens, newIncidentId, parseRunbook, INCIDENT_STATES, type ModelRegistryPort, type Alarm, type OpenIncidentInput } from '../../respond/index.js';
import type { ControlPlaneContext } from '../ControlPlaneContext.js';
import { adminPrincipal } from '../adminAuth.js';
import { auditedChange } from '../auditedChange.js';
import { PEP_TOKENS_CHANGED } from '../replicaChanges.js';
import { INVISIBLE } from '../../policy/index.js';
import { checkPepAlarm, firedForPep, PepAlarmLimiter } from '../pepAlarms.js';

const SMALL_BODY = 64 * 1024;
const FIELD = /^[A-Za-z0-9_]{1,64}$/;
const target = z.record(z.string().regex(FIELD), z.string().min(1).max(2048)).refine((t) => Object.keys(t).length <= 32, 'at most 32 target fields').default({});
const severity = z.enum(['critical', 'high', 'medium', 'low']);

const openBody = z.strictObject({
  title: z.string().min(1).max(200),
  severity: severity.default('high'),
  target,
  /** Run this runbook right away against the new incident. */
  runbook: z.string().max(64).optional(),
  dryRun: z.boolean().default(false),
  drill: z.boolean().default(false),
});
const transitionBody = z.strictObject({ to: z.enum(INCIDENT_STATES), note: z.string().max(500).optional() });
const noteBody = z.strictObject({ text: z.string().min(1).max(2000) });
const runBody = z
  .strictObject({
    runbook: z.string().max(64).optional(),
    /** An ad-hoc runbook (YAML); admin-authored like a file in respond.runbookDirs. */
    yaml: z.string().max(64 * 1024).optional(),
    target,
    incidentId: z.string().max(64).optional(),
    dryRun: z.boolean().default(false),
  })
  .refine((b) => (b.runbook ? 1 : 0) + (b.yaml ? 1 : 0) === 1, 'give exactly one of runbook or yaml');
/** A principal or model named in an alarm: shown in incident titles and tables, so nothing invisible (controls, bidi). */
const visibleName = (max: number) => z.string().max(max).refine((s) => !INVISIBLE.test(s), 'must not contain control, format or bidi characters');
const alarmBody = z.strictObject({
  detector: z.string().regex(/^[a-z0-9-]{1,64}$/),
  principal: visibleName(300).optional(),
  model: visibleName(128).optional(),
  details: z.record(z.string().regex(FIELD), z.union([z.string().max(2048), z.number(), z.boolean()])).refine((d) => Object.keys(d).length <= 32, 'at most 32 details').default({}),
});
const listQuery = z.strictObject({ state: z.enum(INCIDENT_STATES).optional(), limit: z.coerce.number().int().min(1).max(1000).optional() });

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value ?? {});
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new WardenError('WARDEN_INPUT_INVALID', `${i.path.join('.') || 'body'}: ${i.message}`);
  }
  return r.data;
}


/**
 * Incident response admin API (under /api/v1, admin token required): incidents and their
 * timelines, runbooks (run or dry-run), detector alarms and leaked-credential reports.
 */
export async function respondRoutes(app: FastifyInstance, ctx: ControlPlaneContext, options: { models?: ModelRegistryPort } = {}): Promise<void> {
  const r = await getResponder(ctx, options);
  app.addHook('onClose', async () => r.close());
  const incidentResource = (id: string) => `Incident::${JSON.stringify(id)}`;
  /** An admin opens an incident only once the 'attempted' incident.open record naming it is durable. */
  const openIncident = (request: FastifyRequest, input: Omit<OpenIncidentInput, 'id' | 'openedBy'>, details: Record<string, unknown>) => {
    const id = newIncidentId();
    return auditedChange(ctx, request, { action: 'incident.open', resource: incidentResource(id), details }, () => r.incidents.open({ ...input, id, openedBy: adminPrincipal(request) }));
  };

  app.get('/incidents', async (request) => {
    const q = parse(listQuery, request.query);
    return { incidents: await r.incidents.list(q) };
  });

  app.get<{ Params: { id: string } }>('/incidents/:id', async (request) => ({ incident: await r.incidents.show(request.params.id) }));

  app.post('/incidents', { bodyLimit: SMALL_BODY }, async (request, reply) => {
    const body = parse(openBody, request.body);
    const actor = adminPrincipal(request);
    const runbook = body.runbook ? r.runbooks.get(body.runbook) : null;
    const incident = await openIncident(request, { title: body.title, severity: body.severity, target: body.target, drill: body.drill }, { title: body.title, severity: body.severity, target: body.target });
    const run = runbook ? await r.engine.run({ runbook, target: body.target, incidentId: incident.id, actor, dryRun: body.dryRun, changedBy: request }) : undefined;
    reply.code(201);
    return { incident: await r.incidents.show(incident.id), run };
  });

  app.post<{ Params: { id: string } }>('/incidents/:id/transition', { bodyLimit: SMALL_BODY }, async (request) => {
    const body = parse(transitionBody, request.body);
    const actor = adminPrincipal(request);
    const before = await r.incidents.get(request.params.id);
    // Already there: nothing changes and nothing is recorded.
    if (before.state === body.to) return { incident: before };
    const incident = await auditedChange(
      ctx,
      request,
      { action: `incident.${body.to}`, resource: incidentResource(before.id), details: { from: before.state, to: body.to, note: body.note } },
      () => r.incidents.transition(before.id, body.to, actor, body.note),
    );
    return { incident };
  });

  app.post<{ Params: { id: string } }>('/incidents/:id/notes', { bodyLimit: SMALL_BODY }, async (request) => {
    const body = parse(noteBody, request.body);
    // Looked up first so an unknown id gets its 404 without records; the text is on the timeline only.
    const { id } = await r.incidents.get(request.params.id);
    await auditedChange(ctx, request, { action: 'incident.note', resource: incidentResource(id), details: {} }, () => r.incidents.addEvent(id, 'note', adminPrincipal(request), body.text.slice(0, 500), {}));
    return { incident: await r.incidents.show(request.params.id) };
  });

  app.get('/runbooks', async () => ({ runbooks: r.runbooks.list(), actions: r.actions.list() }));

  app.post('/runbooks/run', { bodyLimit: 128 * 1024 }, async (request) => {
    const body = parse(runBody, request.body);
    const actor = adminPrincipal(request);
    const runbook = body.yaml ? parseRunbook(body.yaml, 'runbook') : r.runbooks.get(body.runbook!);
    let incidentId = body.incidentId ?? null;
    if (incidentId) await r.incidents.get(incidentId);
    else if (!body.dryRun) {
      // A hand-run runbook still gets an incident, so every step lands on a timeline.
      const inc = await openIncident(request, { title: `runbook ${runbook.name} run by hand`, severity: 'high', target: body.target }, { runbook: runbook.name, target: body.target });
      incidentId = inc.id;
    }
    const run = await r.engine.run({ runbook, target: body.target, incidentId, actor, dryRun: body.dryRun, changedBy: request });
    return { run, incident: incidentId ? await r.incidents.show(incidentId) : null };
  });

  /** Detector alarms pushed by PEPs, detectors and scanners; answered once bound runbooks ran. */
  const pepAlarms = new PepAlarmLimiter();
  app.post('/respond/alarms', { bodyLimit: SMALL_BODY, config: { pep: true } }, async (request) => {
    const body = parse(alarmBody, request.body);
    // A PEP token (a remote gateway) raises only what gateways raise, at a bounded rate.
    const fromPep = request.adminRole === 'pep';
    if (fromPep) {
      checkPepAlarm(body.detector, body.details);
      pepAlarms.take(request.adminId ?? '');
    }
    const alarm: Alarm = { type: 'detector.alarm', detector: body.detector, principal: body.principal, model: body.model, details: body.details, receivedAt: Date.now() };
    await r.recorder.appendAudit(null, adminPrincipal(request), 'detector.alarm.received', { detector: body.detector, principal: body.principal, model: body.model });
    const fired = await r.alerts.onAlarm(alarm);
    return { fired: fromPep ? firedForPep(fired) : fired };
  });

  /** Leaked-credential reports (secret scanning). The token is never stored, logged or echoed. */
  app.post('/respond/leaks', { bodyLimit: SMALL_BODY }, async (request) => {
    const receivedAt = Date.now();
    const drill = (request.query as { drill?: string }).drill === 'true';
    const { matches, alarms, tokens } = await matchLeakReport(ctx.db, ctx.serverSecret, request.body, receivedAt, drill);
    await revokeLeakedTokens({ db: ctx.db, serverSecret: ctx.serverSecret, audit: (action, details) => r.recorder.appendAudit(null, adminPrincipal(request), action, details), pepTokensChanged: () => void ctx.events.emit(PEP_TOKENS_CHANGED) }, tokens);
    // Containment first; the report's own audit record is written alongside and awaited.
    const recorded = r.recorder.appendAudit(null, adminPrincipal(request), 'leak.report', { reported: matches.length, matched: alarms.length, keyIds: matches.filter((m) => m.keyId).map((m) => m.keyId), tokenIds: matches.filter((m) => m.tokenId).map((m) => m.tokenId) }).then(() => null, (err: unknown) => err);
    const fired = [];
    for (const a of alarms) fired.push(...(await r.alerts.onAlarm(a)));
    const failed = await recorded;
    if (failed) throw failed;
    return { receivedAt: new Date(receivedAt).toISOString(), matches, fired };
  });
}
