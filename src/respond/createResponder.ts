import type { EventEmitter } from 'node:events';
import type { Registry } from 'prom-client';
import type { LoadedConfig } from '../config/index.js';
import type { Database } from '../store/index.js';
import type { AuditLog } from '../audit/index.js';
import type { CertificateAuthority } from '../identity/index.js';
import type { Logger } from '../observe/index.js';
import type { ControlPlaneMetrics } from '../observe/metrics.js';
import type { Action } from './Action.js';
import { ActionRegistry } from './ActionRegistry.js';
import { AlertEngine } from './AlertEngine.js';
import { IncidentRecorder } from './IncidentRecorder.js';
import { IncidentRepository } from './IncidentRepository.js';
import { RunbookEngine } from './RunbookEngine.js';
import { RunbookLibrary } from './RunbookLibrary.js';
import { blockApiKeyAction, blockPrincipalAction } from './actions/apiKeyActions.js';
import { quarantineWorkloadAction } from './actions/quarantineWorkload.js';
import { blastRadiusAction, freezeDatasetAction, rollbackAffectedModelsAction, rollbackModelAction, type ModelRegistryPort } from './actions/artifactActions.js';
import { snapshotEvidenceAction } from './actions/snapshotEvidence.js';
import { notifyWebhookAction } from './actions/notifyWebhook.js';
import type { Alarm, GatewayDecisionEvent } from './types.js';

export interface ResponderDeps {
  config: LoadedConfig;
  db: Database;
  audit: AuditLog;
  logger: Logger;
  serverSecret: Uint8Array;
  events: EventEmitter;
  ca: Pick<CertificateAuthority, 'trustDomain' | 'revoke' | 'revocations'>;
  registry: Registry;
  metrics?: ControlPlaneMetrics;
  /** The artifact registry (rollback, blast radius); without it those actions report WARDEN_RESPOND_ACTION_UNAVAILABLE. */
  models?: ModelRegistryPort;
  /** Extra or replacement actions (tests, plugins). */
  extraActions?: Action[];
}

export interface Responder {
  incidents: IncidentRepository;
  recorder: IncidentRecorder;
  actions: ActionRegistry;
  runbooks: RunbookLibrary;
  engine: RunbookEngine;
  alerts: AlertEngine;
  /** Stops listening to events and timers. */
  close(): void;
}

/** Wires incidents, the action registry, runbooks and alert rules for one control plane. */
export function createResponder(deps: ResponderDeps): Responder {
  const incidents = new IncidentRepository(deps.db);
  const recorder = new IncidentRecorder(incidents, deps.audit, deps.logger);
  const snapshotChanged = (changedBy?: object) => deps.events.emit('snapshot:changed', changedBy);
  const onRevoked = (kind: string, n: number) => deps.metrics?.revocations.labels(kind).inc(n);
  const keyDeps = { db: deps.db, serverSecret: deps.serverSecret, snapshotChanged, onRevoked };
  const actions = new ActionRegistry()
    .register(blockApiKeyAction(keyDeps))
    .register(blockPrincipalAction(keyDeps))
    .register(quarantineWorkloadAction({ ca: deps.ca, snapshotChanged, onRevoked }))
    .register(rollbackModelAction({ registry: deps.models, servingChanged: snapshotChanged }))
    .register(rollbackAffectedModelsAction({ registry: deps.models, servingChanged: snapshotChanged }))
    .register(freezeDatasetAction({ db: deps.db }))
    .register(blastRadiusAction({ registry: deps.models }))
    .register(snapshotEvidenceAction({ dataDir: deps.config.dataDir, audit: deps.audit, registry: deps.registry }))
    .register(
      notifyWebhookAction({
        timeoutMs: deps.config.respond.webhookTimeoutMs,
        describe: async (id) => {
          const i = await incidents.get(id);
          return { title: i.title, state: i.state, severity: i.severity, rule: i.rule, target: i.target, drill: i.drill };
        },
      }),
    );
  for (const a of deps.extraActions ?? []) actions.register(a);
  const runbooks = new RunbookLibrary({ dataDir: deps.config.dataDir, dirs: deps.config.respond.runbookDirs });
  const engine = new RunbookEngine({ actions, incidents, recorder, audit: deps.audit, logger: deps.logger, metrics: deps.metrics });
  const alerts = new AlertEngine({
    rules: deps.config.respond.alerts,
    incidents,
    recorder,
    runbooks,
    engine,
    logger: deps.logger,
    metrics: deps.metrics,
    registry: deps.registry,
    maxTrackedPrincipals: deps.config.respond.maxTrackedPrincipals,
    retryFailedRunSeconds: deps.config.respond.retryFailedRunSeconds,
  });
  for (const rule of deps.config.respond.alerts) {
    if (rule.runbook && !runbooks.has(rule.runbook)) deps.logger.warn({ rule: rule.name, runbook: rule.runbook }, 'alert rule names a runbook that is not loaded; it will only open incidents');
  }

  const onAlarm = (alarm: Alarm) => {
    alarm.receivedAt ??= Date.now();
    alerts.onAlarm(alarm).catch((err: unknown) => deps.logger.error({ err, detector: alarm.detector }, 'alarm handling failed'));
  };
  const onDecision = (ev: GatewayDecisionEvent) => alerts.onDecision(ev);
  let timer: NodeJS.Timeout | null = null;
  if (deps.config.respond.enabled) {
    deps.events.on('detector.alarm', onAlarm);
    deps.events.on('gateway.decision', onDecision);
    if (deps.config.respond.alerts.some((r) => 'metric' in r.when)) {
      timer = setInterval(() => void alerts.evaluateMetrics().catch((err: unknown) => deps.logger.error({ err }, 'metric rule evaluation failed')), deps.config.respond.evaluateIntervalSeconds * 1000);
      timer.unref();
    }
  }
  return {
    incidents,
    recorder,
    actions,
    runbooks,
    engine,
    alerts,
    close() {
      deps.events.off('detector.alarm', onAlarm);
      deps.events.off('gateway.decision', onDecision);
      if (timer) clearInterval(timer);
    },
  };
}
