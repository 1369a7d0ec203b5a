import type { AuditRecord } from '../../audit/index.js';
import { auditDecisionOf, entityString, requestOutcome } from '../../observe/index.js';
import type { AuditWriter } from '../AuditWriter.js';
import type { Principal, RequestContext } from '../RequestContext.js';

const ACTION_BY_ROUTE: Record<string, string> = {
  'openai.chat': 'invoke',
  'openai.completions': 'invoke',
  'openai.embeddings': 'invoke',
  'oip.infer': 'invoke',
  'openai.models': 'listModels',
  'openai.model': 'readModelMetadata',
  'oip.model.metadata': 'readModelMetadata',
  'oip.model.ready': 'readModelMetadata',
  'oip.server': 'health',
  feedback: 'submitFeedback',
};

// toISOString costs about as much as the rest of the record: requests that end in the same
// millisecond share one string (exactly what new Date().toISOString() would give each).
let isoMs = NaN;
let iso = '';
function isoNow(): string {
  const ms = Date.now();
  if (ms !== isoMs) {
    iso = new Date(ms).toISOString();
    isoMs = ms;
  }
  return iso;
}

// Requests repeat models: the quoted form of the last one is reused.
let quotedModel = '';
let quotedResource = '';
function resourceOf(model: string): string {
  if (model !== quotedModel || quotedResource === '') {
    quotedResource = `Model::${JSON.stringify(model)}`;
    quotedModel = model;
  }
  return quotedResource;
}

/**
 * Who called, enough to replay the decision with `warden policy explain` or find the credential:
 * how they authenticated, their id, a JWT's issuer, a client certificate's serial. Keys in
 * canonical order, like the record's.
 */
function principalDetails(p: Principal): Record<string, string> {
  const d: Record<string, string> = { authn: p.method };
  if (p.issuer !== undefined) d.issuer = p.issuer;
  d.principalId = p.id;
  if (p.serial !== undefined) d.serial = p.serial;
  return d;
}

export function auditRecordFor(ctx: RequestContext, overheadMs: number): AuditRecord {
  const route = ctx.route;
  // Keys in canonical (sorted) order: the audit log then serialises the record natively.
  return {
    action: route ? (ACTION_BY_ROUTE[route.kind] ?? route.kind) : `${ctx.method} ${ctx.path.slice(0, 200)}`,
    code: ctx.errorCode ?? undefined,
    // Shared with the metrics and alert events (requestOutcome): a cancel or a failure is no deny.
    decision: auditDecisionOf(requestOutcome(ctx)),
    details: ctx.principal ? principalDetails(ctx.principal) : undefined,
    detectors: ctx.verdicts ? { verdicts: ctx.verdicts } : undefined,
    kind: 'decision',
    latencyMs: Number(process.hrtime.bigint() - ctx.startNs) / 1e6,
    model: route?.model ?? undefined,
    modelVersion: route?.version ?? undefined,
    overheadMs,
    policies: ctx.decision?.determining,
    policyErrors: ctx.decision?.errors.length ? ctx.decision.errors.map((e) => `${e.policyId}: ${e.message}`) : undefined,
    principal: ctx.principal ? entityString(ctx.principal.entity) : undefined,
    requestId: ctx.requestId,
    resource: route?.model ? resourceOf(route.model) : undefined,
    sourceIp: ctx.sourceIp,
    status: ctx.status,
    ts: isoNow(),
  };
}

/**
 * Stage: one record per request. Appends leave the request path through the log's bounded
 * queue; when the queue is nearly full we wait for it (backpressure) instead of dropping.
 */
export function audit(ctx: RequestContext, log: AuditWriter, overheadMs: number, backpressureDepth: number): Promise<void> | void {
  const record = auditRecordFor(ctx, overheadMs);
  // A queue bounded below the depth (a small audit.queueLimit) is waited for at its bound: appends
  // past it would otherwise pile up, unawaited and unbounded, while requests went on.
  const limit = log.appendWaitsAt;
  if (limit !== undefined && limit < backpressureDepth) backpressureDepth = limit;
  // Below the depth nobody awaits the record (it will not reach the depth once queued): no promise.
  if (log.appendDetached && log.queueDepth + 1 < backpressureDepth) return log.appendDetached(record);
  const pending = log.append(record);
  if (log.queueDepth >= backpressureDepth) return pending;
  pending.catch(() => undefined);
}
