import type { Registry } from 'prom-client';
import { createGatewayMetrics, recordRequest, upstreamUp, type GatewayMetrics, type RequestObservation, type UpstreamUp } from './metrics.js';
import { auditDecisionOf, requestOutcome } from './requestOutcome.js';

/** The fields of the gateway's RequestContext the observer reads (structural: observe does not import gateway/). */
export interface ObservedRequest {
  readonly route: { kind: string; model: string | null } | null;
  readonly status: number;
  readonly errorCode: string | null;
  readonly decision: { decision: 'allow' | 'deny' } | null;
  readonly upstreamNs: bigint;
  readonly principal: { entity: { type: string; id: string }; id: string; method: string } | null;
  readonly sourceIp: string;
}

/** What alert rules receive per request on the control plane's event bus ('gateway.decision'). */
export interface DecisionEvent {
  /** Cedar entity string of the principal, e.g. ApiKey::"demo"; null when unauthenticated. */
  principal: string | null;
  /** Key id / SPIFFE ID (an identifier, not a credential). */
  principalId: string | null;
  /** How the principal authenticated ('api-key', 'jwt', 'mtls', 'jwt-svid'); null when it did not. */
  authn: string | null;
  /** The audit record's decision: `deny` only for a refusal (a failure or a client's cancel is `allow` with its code). */
  decision: 'allow' | 'deny';
  code: string | null;
  sourceIp: string;
  model: string | null;
  /** When the request was made (epoch ms), for decisions reported later (a remote gateway's batch); absent: now. */
  at?: number;
}

export interface GatewayObserverOptions {
  registry: Registry;
  /** The gateway's upstreams: their models are the only model label values (any other name, chosen by the client, is "other"). */
  upstreams: readonly { name: string; models: readonly string[] }[];
  /** Receives one decision event per authenticated or denied request (alert rules). */
  emitDecision?: (ev: DecisionEvent) => void;
}

export type GatewayObserver = (ctx: ObservedRequest, overheadMs: number) => void;

/**
 * Called by the pipeline once per request after the audit stage: records metrics with bounded
 * labels and hands the decision to alert rules. One small event object per request; no I/O.
 */
export function createGatewayObserver(options: GatewayObserverOptions): { observe: GatewayObserver; malformed: (code: string) => void; metrics: GatewayMetrics } {
  const metrics = createGatewayMetrics(options.registry);
  // The served model names themselves become label values (strings V8 has hashed once, unlike
  // the client's copy parsed from each request).
  const served = new Map<string, { model: string; up: UpstreamUp }>();
  for (const u of options.upstreams) {
    const up = upstreamUp(metrics, u.name);
    for (const m of u.models) served.set(m, { model: m, up });
    up.set(true);
  }
  const obs: RequestObservation = { route: '', model: '', decision: 'allow', code: '', overheadMs: 0, upstreamMs: 0 };
  const observe: GatewayObserver = (ctx, overheadMs) => {
    const model = ctx.route?.model ?? null;
    // The same classification as the audit record (requestOutcome), so the two never disagree.
    const outcome = requestOutcome(ctx);
    const denied = outcome === 'deny';
    // Reused observation object: recordRequest reads it synchronously.
    obs.route = ctx.route?.kind ?? 'unmatched';
    const upstream = model === null ? undefined : served.get(model);
    obs.model = model === null ? '' : upstream !== undefined ? upstream.model : 'other';
    obs.decision = outcome;
    obs.code = ctx.errorCode ?? '';
    obs.overheadMs = overheadMs;
    obs.upstreamMs = Number(ctx.upstreamNs) / 1e6;
    recordRequest(metrics, obs);
    if (upstream !== undefined) {
      if (ctx.errorCode === 'WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE' || ctx.errorCode === 'WARDEN_GATEWAY_UPSTREAM_TIMEOUT') upstream.up.set(false);
      else if (ctx.upstreamNs > 0n) upstream.up.set(true);
    }
    if (options.emitDecision && (ctx.principal || denied)) {
      options.emitDecision({
        principal: ctx.principal ? entityString(ctx.principal.entity) : null,
        principalId: ctx.principal?.id ?? null,
        authn: ctx.principal?.method ?? null,
        decision: auditDecisionOf(outcome),
        code: ctx.errorCode,
        sourceIp: ctx.sourceIp,
        model,
      });
    }
  };
  // A request refused before the pipeline (unparsable HTTP/1.1): no route, model or principal.
  const malformed = (code: string): void => metrics.requests.inc({ route: 'unmatched', model: '', decision: 'deny', code });
  return { observe, malformed, metrics };
}

type Entity = { readonly type: string; readonly id: string };
/** Cedar entity strings of frozen entities (an API key's, shared by all its requests): a frozen entity's string cannot change. */
const entityStrings = new WeakMap<Entity, string>();

/** The Cedar entity string, e.g. ApiKey::"demo" (the audit record's and the decision event's principal). */
export function entityString(e: Entity): string {
  let s = entityStrings.get(e);
  if (s === undefined) {
    s = `${e.type}::${JSON.stringify(e.id)}`;
    if (Object.isFrozen(e)) entityStrings.set(e, s);
  }
  return s;
}

/** Keeps warden_pep_snapshot_version{pep} current for a PEP's snapshot holder. */
export function observeSnapshots(holder: { current(): { version: number } | null; onUpdate(l: (s: { version: number }) => void): () => void }, metrics: GatewayMetrics, pep: string): () => void {
  const cur = holder.current();
  if (cur) metrics.snapshotVersion.labels(pep).set(cur.version);
  return holder.onUpdate((s) => metrics.snapshotVersion.labels(pep).set(s.version));
}

/** What a scrape reads from a PEP's audit writer (the local Merkle log or a remote gateway's writer). */
export interface ObservedAuditWriter {
  readonly queueDepth: number;
  readonly failingClosed?: boolean;
  readonly spoolBytes?: number;
}

/** Sets the PEP's audit gauges from its writer; run before each scrape (they are read, not pushed). */
export function observeAudit(writer: ObservedAuditWriter, metrics: GatewayMetrics, pep: string): void {
  metrics.auditQueueDepth.labels(pep).set(writer.queueDepth);
  metrics.auditFailingClosed.labels(pep).set(writer.failingClosed === true ? 1 : 0);
  if (writer.spoolBytes !== undefined) metrics.auditSpoolBytes.labels(pep).set(writer.spoolBytes);
}
