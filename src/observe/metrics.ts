import type { RequestOutcome } from './requestOutcome.js';
import { Counter, Gauge, Histogram, collectDefaultMetrics, register as processRegistry, type Registry } from 'prom-client';

/**
 * Prometheus metrics. One registry per process (prom-client's global `register`, which the
 * detectors also use), so `warden up` exposes gateway, control-plane and detector series on
 * both listeners. Labels are bounded: routes, model names, decisions and codes — never
 * principals, keys, addresses or raw paths (those belong in the audit log).
 */

/** Finer than prom-client's defaults at the low end: Warden's overhead is sub-millisecond. */
const OVERHEAD_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const UPSTREAM_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

function getOrCreate<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]): Counter<L> {
  return getOrCreate(registry, name, () => new Counter<L>({ name, help, labelNames, registers: [registry] }));
}

function gauge<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]): Gauge<L> {
  return getOrCreate(registry, name, () => new Gauge<L>({ name, help, labelNames, registers: [registry] }));
}

function histogram<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[], buckets: number[]): Histogram<L> {
  return getOrCreate(registry, name, () => new Histogram<L>({ name, help, labelNames, buckets, registers: [registry] }));
}

export interface GatewayMetrics {
  requests: Counter<'route' | 'model' | 'decision' | 'code'>;
  /** Time Warden itself spent on a request (total minus waiting for the upstream). */
  overheadSeconds: Histogram<'route'>;
  upstreamSeconds: Histogram<'model'>;
  rateLimited: Counter<'route'>;
  detectorVerdicts: Counter<'detector' | 'action'>;
  auditQueueDepth: Gauge<'pep'>;
  /** 1 while the PEP's audit log keeps no more records, so the PEP refuses requests (fail closed). */
  auditFailingClosed: Gauge<'pep'>;
  /** Undelivered audit records a remote gateway holds on disk (control plane unreachable). */
  auditSpoolBytes: Gauge<'pep'>;
  /** Version of the policy snapshot (bundle) each PEP decides from. */
  snapshotVersion: Gauge<'pep'>;
  /** Written through upstreamUp(metrics, name), which knows the value each series holds. */
  upstreamUp: Gauge<'upstream'>;
}

export function createGatewayMetrics(registry: Registry = processRegistry): GatewayMetrics {
  return {
    requests: counter(registry, 'warden_gateway_requests_total', 'Gateway requests by route, model, decision and WARDEN_ code.', ['route', 'model', 'decision', 'code']),
    overheadSeconds: histogram(registry, 'warden_gateway_overhead_seconds', "Warden's own time per request (excludes the upstream).", ['route'], OVERHEAD_BUCKETS),
    upstreamSeconds: histogram(registry, 'warden_gateway_upstream_seconds', 'Time waiting for the model server.', ['model'], UPSTREAM_BUCKETS),
    rateLimited: counter(registry, 'warden_gateway_rate_limited_total', 'Requests refused by a rate limit.', ['route']),
    // Same name and labels as the detect module's DetectorMetrics, so both share one series.
    detectorVerdicts: counter(registry, 'warden_detector_verdicts_total', 'Detector verdicts by detector and action.', ['detector', 'action']),
    auditQueueDepth: gauge(registry, 'warden_audit_queue_depth', 'Audit records waiting to be written.', ['pep']),
    auditFailingClosed: gauge(registry, 'warden_audit_failing_closed', '1 while the audit log keeps no more records and the PEP refuses requests (fail closed), else 0.', ['pep']),
    auditSpoolBytes: gauge(registry, 'warden_audit_spool_bytes', 'Bytes of undelivered audit records a remote gateway spooled to disk.', ['pep']),
    snapshotVersion: gauge(registry, 'warden_pep_snapshot_version', 'Policy snapshot (bundle) version a PEP decides from.', ['pep']),
    upstreamUp: gauge(registry, 'warden_upstream_up', '1 when the upstream answered its last request or health check, else 0.', ['upstream']),
  };
}

export interface ControlPlaneMetrics {
  /** Unexpired X.509-SVIDs by time left: <1h, 1h-24h, >24h. */
  svidsByExpiry: Gauge<'expires_in'>;
  revocations: Counter<'kind'>;
  revocationListSize: Gauge;
  incidentsByState: Gauge<'state'>;
  incidentsOpened: Counter<'rule' | 'severity'>;
  runbookSteps: Counter<'action' | 'outcome'>;
  /** Seconds from detection to containment per incident. */
  containSeconds: Histogram<'rule'>;
  alertsFired: Counter<'rule'>;
  auditEntries: Gauge;
  /** Durable entries not yet covered by a signed checkpoint (how far the signed log lags behind). */
  auditUnsignedEntries: Gauge;
}

export function createControlPlaneMetrics(registry: Registry = processRegistry): ControlPlaneMetrics {
  return {
    svidsByExpiry: gauge(registry, 'warden_svids', 'Unexpired X.509-SVIDs by time to expiry.', ['expires_in']),
    revocations: counter(registry, 'warden_revocations_total', 'Revocations made by this control plane (SVIDs, API keys, principals).', ['kind']),
    revocationListSize: gauge(registry, 'warden_revocation_list_entries', 'Entries in the SVID revocation list.', []),
    incidentsByState: gauge(registry, 'warden_incidents', 'Incidents by state.', ['state']),
    incidentsOpened: counter(registry, 'warden_incidents_opened_total', 'Incidents opened by alert rule (or "manual") and severity.', ['rule', 'severity']),
    runbookSteps: counter(registry, 'warden_runbook_steps_total', 'Runbook steps by action and outcome (applied, unchanged, failed, undone, planned).', ['action', 'outcome']),
    containSeconds: histogram(registry, 'warden_incident_contain_seconds', 'Time from detection to containment.', ['rule'], [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300]),
    alertsFired: counter(registry, 'warden_alerts_fired_total', 'Alert rules that fired.', ['rule']),
    auditEntries: gauge(registry, 'warden_audit_entries', 'Durable entries in the audit log.', []),
    auditUnsignedEntries: gauge(registry, 'warden_audit_unsigned_entries', 'Durable audit entries not yet covered by a signed checkpoint.', []),
  };
}

/** One finished gateway request, as the pipeline's audit stage sees it. */
export interface RequestObservation {
  /** Route kind (openai.chat, oip.infer, …) or 'unmatched'. */
  route: string;
  /** Model name when the route names one that the gateway serves; else ''. */
  model: string;
  /** requestOutcome: allow, deny (a refusal), error (a failure), cancelled (the client went away). */
  decision: RequestOutcome;
  /** WARDEN_ code or '' on success. */
  code: string;
  overheadMs: number;
  /** Time waiting for the upstream; 0 when the request was not forwarded. */
  upstreamMs: number;
}

/** Label-bound children of one (route, model, decision, code) label set. */
interface RequestSeries {
  requests: { inc(): void };
  overhead: { observe(v: number): void };
  upstream: { observe(v: number): void };
  /** Bound only for WARDEN_GATEWAY_RATE_LIMITED. */
  rateLimited: { inc(): void } | null;
}
type Level<V> = Map<string, V>;
type SeriesByLabels = Level<Level<Level<Level<RequestSeries>>>>;

/**
 * Label-bound children per label set (labels are bounded), so a request does not re-bind them.
 * Nested by label rather than keyed by a joined string: the label values are strings whose hash
 * V8 already holds, while a joined key is a new string to hash on every request.
 */
const seriesByMetrics = new WeakMap<GatewayMetrics, SeriesByLabels>();

function level<V>(map: Level<Level<V>>, key: string): Level<V> {
  let m = map.get(key);
  if (m === undefined) map.set(key, (m = new Map()));
  return m;
}

function seriesFor(m: GatewayMetrics, o: RequestObservation): RequestSeries {
  let root = seriesByMetrics.get(m);
  if (root === undefined) seriesByMetrics.set(m, (root = new Map()));
  const byCode = level(level(level(root, o.route), o.model), o.decision);
  let s = byCode.get(o.code);
  if (s === undefined) {
    s = {
      requests: m.requests.labels(o.route, o.model, o.decision, o.code),
      overhead: m.overheadSeconds.labels(o.route),
      upstream: m.upstreamSeconds.labels(o.model),
      rateLimited: o.code === 'WARDEN_GATEWAY_RATE_LIMITED' ? m.rateLimited.labels(o.route) : null,
    };
    byCode.set(o.code, s);
  }
  return s;
}

/** Called once per request from the gateway's audit stage; prom-client does the rest. */
export function recordRequest(m: GatewayMetrics, o: RequestObservation): void {
  const s = seriesFor(m, o);
  s.requests.inc();
  s.overhead.observe(o.overheadMs / 1000);
  if (o.upstreamMs > 0) s.upstream.observe(o.upstreamMs / 1000);
  s.rateLimited?.inc();
}

/** warden_upstream_up of one upstream. */
export interface UpstreamUp {
  set(up: boolean): void;
}

class UpstreamUpSeries implements UpstreamUp {
  /** What this series last set (-1: nothing yet). */
  private value = -1;
  constructor(private readonly child: { set(v: number): void }) {}
  set(up: boolean): void {
    const v = up ? 1 : 0;
    // Every forwarded request reports its upstream's health; a set that changes nothing would
    // still cost prom-client a label hash and an allocation.
    if (v === this.value) return;
    this.child.set(v);
    this.value = v;
  }
}

/** One per gauge and upstream, shared by all its writers, so each knows what the gauge holds. */
const upstreamUpByGauge = new WeakMap<Gauge<'upstream'>, Map<string, UpstreamUpSeries>>();

/** warden_upstream_up{upstream}: every writer (requests, health checks) goes through this. */
export function upstreamUp(m: GatewayMetrics, upstream: string): UpstreamUp {
  let byName = upstreamUpByGauge.get(m.upstreamUp);
  if (byName === undefined) upstreamUpByGauge.set(m.upstreamUp, (byName = new Map()));
  let s = byName.get(upstream);
  if (s === undefined) byName.set(upstream, (s = new UpstreamUpSeries(m.upstreamUp.labels(upstream))));
  return s;
}

let processMetricsStarted = false;

/** The process registry with Node's process metrics (CPU, heap, event-loop lag) registered once. */
export function processMetricsRegistry(options: { processMetrics?: boolean } = {}): Registry {
  if (options.processMetrics !== false && !processMetricsStarted) {
    processMetricsStarted = true;
    // warden_process_cpu_seconds_total, warden_nodejs_eventloop_lag_seconds, …
    collectDefaultMetrics({ register: processRegistry, prefix: 'warden_' });
  }
  return processRegistry;
}
