import type { Registry } from 'prom-client';
import type { WardenConfig } from '../config/index.js';
import { toWardenError } from '../errors/index.js';
import type { Logger } from '../observe/index.js';
import type { ControlPlaneMetrics } from '../observe/metrics.js';
import type { IncidentRecorder } from './IncidentRecorder.js';
import type { IncidentRepository } from './IncidentRepository.js';
import type { Runbook } from './Runbook.js';
import type { RunbookEngine, RunReport } from './RunbookEngine.js';
import type { RunbookLibrary } from './RunbookLibrary.js';
import type { Alarm, GatewayDecisionEvent, Incident, IncidentTarget } from './types.js';

export type AlertRuleConfig = WardenConfig['respond']['alerts'][number];

export interface AlertEngineDeps {
  rules: AlertRuleConfig[];
  incidents: IncidentRepository;
  recorder: IncidentRecorder;
  runbooks: RunbookLibrary;
  engine: RunbookEngine;
  logger: Logger;
  metrics?: ControlPlaneMetrics;
  /** Source of metric rules' values. */
  registry?: Registry;
  maxTrackedPrincipals: number;
  /** An open incident whose runbook failed runs it again on a later alert, at most this often (default 30 s). */
  retryFailedRunSeconds?: number;
  now?: () => number;
}

export interface FiredAlert {
  rule: string;
  incidentId: string;
  /** True when an open incident of the same rule and subject absorbed the alert. */
  deduplicated: boolean;
  run?: RunReport;
  /**
   * Absorbed (no run now) by an incident whose runbook has not succeeded: containment is still
   * outstanding (the retry waits for `retryFailedRunSeconds`).
   */
  outstanding?: boolean;
}

interface AddressHistory {
  firstSeen: number;
  addresses: Set<string>;
}

const MAX_ADDRESSES = 64;

/** Keeps at most `max` entries, dropping the oldest inserted (Map keeps insertion order). */
function boundedSet<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  if (!map.has(key) && map.size >= max) map.delete(map.keys().next().value as K);
  map.set(key, value);
}

/**
 * Evaluates alert rules over detector alarms, gateway decisions and metrics. When a rule fires
 * it opens an incident (deduplicated per rule and subject within the cooldown), records the
 * alert on the timeline and in the audit log, and runs the bound runbook right away: containment
 * does not wait for a person.
 */
export class AlertEngine {
  private readonly denies = new Map<string, Map<string, number[]>>();
  private readonly addresses = new Map<string, Map<string, AddressHistory>>();
  private readonly inflight = new Map<string, Promise<FiredAlert>>();
  private readonly metricFiring = new Set<string>();
  /** Incidents whose bound runbook failed here (id → last attempt, epoch ms): later alerts retry it. */
  private readonly failedRuns = new Map<string, number>();
  private readonly retryMs: number;
  private readonly now: () => number;
  /**
   * The enabled rules over gateway decisions, in their configured order: onDecision runs once per
   * request and need not walk (nor filter, allocating) the detector and metric rules each time.
   * Rules are fixed for an engine's life (config is read at start; a change means a new engine).
   */
  private readonly decisionRules: readonly AlertRuleConfig[];

  constructor(private readonly deps: AlertEngineDeps) {
    this.now = deps.now ?? Date.now;
    this.retryMs = (deps.retryFailedRunSeconds ?? 30) * 1000;
    this.decisionRules = this.enabled().filter((r) => 'denies' in r.when || 'newSourceAddress' in r.when);
  }

  private enabled() {
    return this.deps.rules.filter((r) => r.enabled);
  }

  /** A detector alarm (detect module, leak reports, scanners). Resolves once bound runbooks ran. */
  async onAlarm(alarm: Alarm): Promise<FiredAlert[]> {
    const receivedAt = alarm.receivedAt ?? this.now();
    const out: FiredAlert[] = [];
    for (const rule of this.enabled()) {
      if (!('detector' in rule.when) || rule.when.detector !== alarm.detector) continue;
      const target: IncidentTarget = {};
      for (const [k, v] of Object.entries(alarm.details)) if (typeof v === 'string' && v.length <= 2048) target[k] = v;
      if (alarm.principal) target.principal = alarm.principal;
      if (alarm.model) target.model = alarm.model;
      const subject = target.key ?? target.spiffeId ?? target.dataset ?? alarm.principal ?? alarm.model ?? alarm.detector;
      out.push(await this.fire(rule, subject, target, { detector: alarm.detector, ...alarm.details }, receivedAt, alarm.details.drill === true));
    }
    return out;
  }

  /** One gateway decision (the 'gateway.decision' event). Cheap: maps and arrays, no I/O unless a rule fires. */
  onDecision(ev: GatewayDecisionEvent): void {
    const now = this.now();
    for (const rule of this.decisionRules) {
      const w = rule.when;
      if ('denies' in w && ev.decision === 'deny' && ev.principal) {
        let perRule = this.denies.get(rule.name);
        if (!perRule) this.denies.set(rule.name, (perRule = new Map()));
        let times = perRule.get(ev.principal);
        if (!times) boundedSet(perRule, ev.principal, (times = []), this.deps.maxTrackedPrincipals);
        times.push(now);
        const from = now - w.withinSeconds * 1000;
        while (times.length && times[0]! < from) times.shift();
        if (times.length > w.denies) times.splice(0, times.length - w.denies);
        if (times.length >= w.denies) {
          times.length = 0;
          this.background(this.fire(rule, ev.principal, { principal: ev.principal }, { denies: w.denies, withinSeconds: w.withinSeconds, lastCode: ev.code ?? '' }, now, false));
        }
      } else if ('newSourceAddress' in w && ev.principalId && ev.decision === 'allow') {
        let perRule = this.addresses.get(rule.name);
        if (!perRule) this.addresses.set(rule.name, (perRule = new Map()));
        const h = perRule.get(ev.principalId);
        if (!h) {
          boundedSet(perRule, ev.principalId, { firstSeen: now, addresses: new Set([ev.sourceIp]) }, this.deps.maxTrackedPrincipals);
          continue;
        }
        if (h.addresses.has(ev.sourceIp)) continue;
        if (now - h.firstSeen <= w.newSourceAddress.learnSeconds * 1000 || h.addresses.size >= MAX_ADDRESSES) {
          if (h.addresses.size < MAX_ADDRESSES) h.addresses.add(ev.sourceIp);
          continue;
        }
        h.addresses.add(ev.sourceIp);
        const target: IncidentTarget = { principalId: ev.principalId, sourceIp: ev.sourceIp };
        if (ev.principal) target.principal = ev.principal;
        if (ev.principalId.startsWith('spiffe://')) target.spiffeId = ev.principalId;
        else target.key = ev.principalId;
        this.background(this.fire(rule, ev.principalId, target, { sourceIp: ev.sourceIp, knownAddresses: h.addresses.size - 1 }, now, false));
      }
    }
  }

  /** Metric rules: fire when a series crosses its threshold (once per crossing). */
  async evaluateMetrics(): Promise<FiredAlert[]> {
    if (!this.deps.registry) return [];
    const fired: FiredAlert[] = [];
    const metrics = await this.deps.registry.getMetricsAsJSON();
    for (const rule of this.enabled()) {
      const w = rule.when;
      if (!('metric' in w)) continue;
      const m = metrics.find((x) => x.name === w.metric);
      for (const v of m?.values ?? []) {
        const labels = v.labels as Record<string, string | number>;
        if (!Object.entries(w.labels).every(([k, want]) => String(labels[k]) === want)) continue;
        const key = `${rule.name}|${JSON.stringify(labels)}`;
        const crossed = (w.above !== undefined && v.value > w.above) || (w.below !== undefined && v.value < w.below);
        if (!crossed) {
          this.metricFiring.delete(key);
          continue;
        }
        if (this.metricFiring.has(key)) continue;
        this.metricFiring.add(key);
        const target: IncidentTarget = Object.fromEntries(Object.entries(labels).map(([k, x]) => [k, String(x)]));
        const subject = `${w.metric}${JSON.stringify(target)}`.slice(0, 500);
        fired.push(await this.fire(rule, subject, target, { metric: w.metric, value: v.value, ...(w.above !== undefined ? { above: w.above } : {}), ...(w.below !== undefined ? { below: w.below } : {}) }, this.now(), false));
      }
    }
    return fired;
  }

  private background(p: Promise<FiredAlert>): void {
    p.catch((err: unknown) => this.deps.logger.error({ err: toWardenError(err).code }, 'alert handling failed'));
  }

  private fire(rule: AlertRuleConfig, subject: string, target: IncidentTarget, evidence: Record<string, unknown>, detectedAt: number, drill: boolean): Promise<FiredAlert> {
    this.deps.metrics?.alertsFired.labels(rule.name).inc();
    // Concurrent alarms for the same rule and subject share one incident. The later alert is
    // still recorded on its timeline and in the audit log, as after the first one finished: a
    // burst that lands while a slow runbook contains the first one must not vanish.
    const key = `${rule.name}\u0000${subject}`;
    const running = this.inflight.get(key);
    if (running) return running.then(async (r) => ({ ...(await this.recordAgain(rule, subject, r.incidentId, evidence)), ...(r.run && !r.run.ok ? { outstanding: true } : {}) }));
    const p = this.fireOnce(rule, subject, target, evidence, detectedAt, drill).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  /** An alert absorbed by an incident of the same rule and subject: one more entry on its timeline. */
  private async recordAgain(rule: AlertRuleConfig, subject: string, incidentId: string, evidence: Record<string, unknown>): Promise<FiredAlert> {
    await this.deps.recorder.record(incidentId, 'alert', `Rule::${JSON.stringify(rule.name)}`, 'incident.alert', `${rule.name} fired again for ${subject}`, { rule: rule.name, ...evidence });
    return { rule: rule.name, incidentId, deduplicated: true };
  }

  /**
   * An alert within the cooldown lands on the open incident. When that incident's runbook failed
   * (known here, or, after a restart or on another replica, a runbook that moves the incident on
   * when it succeeds left it `open`), the alert runs it again, at most once per
   * `retryFailedRunSeconds`: a failed containment is not silenced for the whole cooldown.
   */
  private async absorb(rule: AlertRuleConfig, subject: string, incident: Incident, evidence: Record<string, unknown>): Promise<FiredAlert> {
    const absorbed = await this.recordAgain(rule, subject, incident.id, evidence);
    if (!rule.runbook || incident.state !== 'open' || !this.deps.runbooks.has(rule.runbook)) return absorbed;
    const runbook = this.deps.runbooks.get(rule.runbook);
    const lastAttempt = this.failedRuns.get(incident.id);
    if (lastAttempt === undefined && !runbook.onSuccess) return absorbed;
    if (lastAttempt !== undefined && this.now() - lastAttempt < this.retryMs) return { ...absorbed, outstanding: true };
    const run = await this.runBound(runbook, incident.target, incident.id, `Rule::${JSON.stringify(rule.name)}`);
    return { ...absorbed, run };
  }

  private async runBound(runbook: Runbook, target: IncidentTarget, incidentId: string, actor: string): Promise<RunReport> {
    // Counted as failed until it reports ok: a run that throws is retried too.
    this.failedRuns.delete(incidentId);
    boundedSet(this.failedRuns, incidentId, this.now(), this.deps.maxTrackedPrincipals);
    const run = await this.deps.engine.run({ runbook, target, incidentId, actor });
    if (run.ok) this.failedRuns.delete(incidentId);
    return run;
  }

  private async fireOnce(rule: AlertRuleConfig, subject: string, target: IncidentTarget, evidence: Record<string, unknown>, detectedAt: number, drill: boolean): Promise<FiredAlert> {
    const actor = `Rule::${JSON.stringify(rule.name)}`;
    const recent = rule.cooldownSeconds > 0 ? await this.deps.incidents.findRecent(rule.name, subject, new Date(this.now() - rule.cooldownSeconds * 1000)) : null;
    if (recent) return this.absorb(rule, subject, recent, evidence);
    const incident = await this.deps.incidents.open({ title: `${rule.name}: ${subject}`.slice(0, 200), severity: rule.severity, rule: rule.name, subject, target, openedBy: actor, drill, at: new Date(detectedAt) });
    this.deps.metrics?.incidentsOpened.labels(rule.name, rule.severity).inc();
    // The alert record is written while the runbook starts containing.
    const records = this.deps.recorder.batch();
    records.record(incident.id, 'alert', actor, 'incident.open', `${rule.name} fired for ${subject}`, { rule: rule.name, severity: rule.severity, target, detectedAt: new Date(detectedAt).toISOString(), ...evidence });
    const run = rule.runbook ? await this.runBound(this.deps.runbooks.get(rule.runbook), target, incident.id, actor) : undefined;
    const unrecorded = await records.settle();
    if (unrecorded !== null) throw unrecorded;
    if (!run) return { rule: rule.name, incidentId: incident.id, deduplicated: false };
    if (run.ok) this.deps.metrics?.containSeconds.labels(rule.name).observe((this.now() - detectedAt) / 1000);
    return { rule: rule.name, incidentId: incident.id, deduplicated: false, run };
  }
}
