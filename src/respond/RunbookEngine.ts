import { WardenError, toWardenError } from '../errors/index.js';
import type { Logger } from '../observe/index.js';
import type { AuditLog } from '../audit/index.js';
import type { ControlPlaneMetrics } from '../observe/metrics.js';
import type { Action, ActionContext, ActionResult } from './Action.js';
import type { ActionRegistry } from './ActionRegistry.js';
import type { IncidentRecorder } from './IncidentRecorder.js';
import { canTransition, type IncidentRepository } from './IncidentRepository.js';
import { resolveParams, type Runbook, type StepParams } from './Runbook.js';

export type StepStatus = 'planned' | 'applied' | 'unchanged' | 'failed' | 'undone' | 'undo-failed' | 'not-undoable' | 'skipped' | 'failed-continued';

export interface StepReport {
  index: number;
  action: string;
  description: string;
  status: StepStatus;
  summary?: string;
  error?: { code: string; message: string };
  durationMs?: number;
}

export interface RunReport {
  runbook: string;
  incidentId: string | null;
  dryRun: boolean;
  ok: boolean;
  steps: StepReport[];
  warnings: string[];
  error?: { code: string; message: string };
  startedAt: string;
  durationMs: number;
}

export interface RunOptions {
  runbook: Runbook;
  target: Record<string, string>;
  incidentId: string | null;
  actor: string;
  dryRun?: boolean;
  /** See ActionContext.changedBy. */
  changedBy?: object;
}

export interface RunbookEngineDeps {
  actions: ActionRegistry;
  incidents: IncidentRepository;
  recorder: IncidentRecorder;
  audit: AuditLog;
  logger: Logger;
  metrics?: ControlPlaneMetrics;
}

interface Prepared {
  index: number;
  action: Action;
  params: StepParams;
  continueOnError: boolean;
  description: string;
}

const errorOf = (err: unknown) => {
  const e = toWardenError(err, 'WARDEN_RESPOND_STEP_FAILED');
  // Unknown errors keep their message out of reports (it may quote internals); the log has it.
  return { code: e.code, message: e.code === 'WARDEN_RESPOND_STEP_FAILED' && !(err instanceof WardenError) ? 'the step failed (see the server log)' : e.message };
};

/**
 * Runs runbooks in two phases. Plan: every step's parameters are resolved and its
 * preconditions checked before anything changes (that is also the dry run). Apply: steps run
 * in order; when one fails, the steps already applied are undone in reverse (compensation), so
 * a failed run does not leave the system half-changed. Each step is recorded on the incident
 * timeline and in the audit log.
 */
export class RunbookEngine {
  constructor(private readonly deps: RunbookEngineDeps) {}

  async run(options: RunOptions): Promise<RunReport> {
    const started = Date.now();
    const { runbook, incidentId, actor } = options;
    const dryRun = options.dryRun ?? false;
    const report: RunReport = { runbook: runbook.name, incidentId, dryRun, ok: false, steps: [], warnings: [], startedAt: new Date(started).toISOString(), durationMs: 0 };
    const actx: ActionContext = { incidentId, actor, audit: this.deps.audit, logger: this.deps.logger, changedBy: options.changedBy };
    const finish = (): RunReport => ((report.durationMs = Date.now() - started), report);

    // ---- plan ----
    const prepared: Prepared[] = [];
    try {
      for (const field of runbook.requires) {
        if (!options.target[field]) throw new WardenError('WARDEN_RESPOND_ACTION_PARAMS', `runbook ${runbook.name} needs target.${field}`);
      }
      const scope = { target: options.target, incident: (incidentId ? { id: incidentId } : {}) as Record<string, string> };
      let seenIrreversible = false;
      for (const [index, step] of runbook.steps.entries()) {
        const action = this.deps.actions.get(step.action);
        const params = resolveParams(step.with, scope, `step ${index + 1} (${step.action})`);
        const plan = await action.plan(params, actx);
        const description = plan.alreadyDone ? `${plan.description} (already done)` : plan.description;
        prepared.push({ index, action, params, continueOnError: step.continueOnError, description });
        report.steps.push({ index, action: action.name, description, status: 'planned' });
        if (!action.undo && !action.readOnly && !step.continueOnError) seenIrreversible = true;
        else if (seenIrreversible && action.undo) report.warnings.push(`step ${index + 1} (${action.name}) runs after a step that cannot be undone; order undoable steps first`);
      }
    } catch (err) {
      report.error = errorOf(err);
      const failedIndex = prepared.length;
      const step = runbook.steps[failedIndex];
      if (step) report.steps.push({ index: failedIndex, action: step.action, description: 'plan failed', status: 'failed', error: report.error });
      await this.deps.recorder.record(incidentId, 'plan', actor, 'runbook.plan', `runbook ${runbook.name}: plan failed at step ${failedIndex + 1}: ${report.error.message}`, { runbook: runbook.name, dryRun, error: report.error }, 'deny');
      return finish();
    }
    // Containment does not wait for its own paperwork: records are written alongside and
    // awaited before the run reports success.
    const records = this.deps.recorder.batch();
    records.record(incidentId, 'plan', actor, 'runbook.plan', `runbook ${runbook.name}${dryRun ? ' (dry run)' : ''}: ${prepared.length} steps planned`, {
      runbook: runbook.name,
      dryRun,
      steps: prepared.map((p) => ({ action: p.action.name, description: p.description })),
    });
    for (const p of prepared) this.deps.metrics?.runbookSteps.labels(p.action.name, 'planned').inc();
    if (dryRun) {
      report.ok = (await records.settle()) === null;
      return finish();
    }

    // ---- apply ----
    const applied: { p: Prepared; result: ActionResult }[] = [];
    for (const p of prepared) {
      const stepReport = report.steps[p.index]!;
      const t0 = performance.now();
      try {
        const result = await p.action.apply(p.params, actx);
        stepReport.status = result.changed ? 'applied' : 'unchanged';
        stepReport.summary = result.summary;
        stepReport.durationMs = Math.round((performance.now() - t0) * 100) / 100;
        applied.push({ p, result });
        this.deps.metrics?.runbookSteps.labels(p.action.name, stepReport.status).inc();
        records.record(incidentId, 'action', actor, `runbook.step.${stepReport.status}`, `${p.action.name}: ${result.summary}`, { runbook: runbook.name, step: p.index + 1, action: p.action.name, changed: result.changed, ...result.details });
      } catch (err) {
        const error = errorOf(err);
        if (!(err instanceof WardenError)) this.deps.logger.error({ err, action: p.action.name }, 'runbook step failed');
        stepReport.durationMs = Math.round((performance.now() - t0) * 100) / 100;
        stepReport.error = error;
        this.deps.metrics?.runbookSteps.labels(p.action.name, 'failed').inc();
        if (p.continueOnError) {
          stepReport.status = 'failed-continued';
          report.warnings.push(`step ${p.index + 1} (${p.action.name}) failed and was skipped: ${error.message}`);
          records.record(incidentId, 'action', actor, 'runbook.step.failed', `${p.action.name} failed (continuing): ${error.message}`, { runbook: runbook.name, step: p.index + 1, action: p.action.name, error }, 'deny');
          continue;
        }
        stepReport.status = 'failed';
        report.error = { code: 'WARDEN_RESPOND_STEP_FAILED', message: `step ${p.index + 1} (${p.action.name}) failed: ${error.message}` };
        await this.deps.recorder.record(incidentId, 'action', actor, 'runbook.step.failed', `${p.action.name} failed: ${error.message}`, { runbook: runbook.name, step: p.index + 1, action: p.action.name, error }, 'deny');
        await records.settle();
        await this.compensate(applied, report, actx, runbook.name);
        for (const rest of prepared.slice(p.index + 1)) report.steps[rest.index]!.status = 'skipped';
        return finish();
      }
    }
    const unrecorded = await records.settle();
    if (unrecorded !== null) {
      // Applied but not on the record: the run is not a success an operator may rely on.
      this.deps.logger.error({ err: unrecorded, runbook: runbook.name }, 'runbook steps applied but not recorded');
      report.error = { code: 'WARDEN_RESPOND_STEP_FAILED', message: 'the steps were applied but could not all be recorded (see the server log)' };
      return finish();
    }
    report.ok = true;
    if (incidentId && runbook.onSuccess) {
      const inc = await this.deps.incidents.get(incidentId);
      // Incidents only move forward: one already past onSuccess (recovered by an operator) keeps
      // its state, and the steps that did apply are still a success the caller must hear about.
      if (inc.state !== runbook.onSuccess && !canTransition(inc.state, runbook.onSuccess)) {
        report.warnings.push(`incident ${incidentId} is ${inc.state}; not moved back to ${runbook.onSuccess}`);
      } else if (inc.state !== runbook.onSuccess) {
        try {
          await this.deps.incidents.transition(incidentId, runbook.onSuccess, actor, `runbook ${runbook.name} completed`);
          await this.deps.recorder.appendAudit(incidentId, actor, `incident.${runbook.onSuccess}`, { from: inc.state, to: runbook.onSuccess, runbook: runbook.name });
        } catch (err) {
          // Moved on by someone else meanwhile: same as above.
          if (!(err instanceof WardenError && err.code === 'WARDEN_RESPOND_TRANSITION_INVALID')) throw err;
          report.warnings.push(`incident ${incidentId} moved on meanwhile; not moved back to ${runbook.onSuccess}`);
        }
      }
    }
    return finish();
  }

  /** Undoes applied steps newest first. A step without undo is reported, never silently kept. */
  private async compensate(applied: { p: Prepared; result: ActionResult }[], report: RunReport, actx: ActionContext, runbook: string): Promise<void> {
    for (const { p, result } of applied.reverse()) {
      const stepReport = report.steps[p.index]!;
      if (!result.changed || p.action.readOnly) continue;
      if (!p.action.undo) {
        stepReport.status = 'not-undoable';
        report.warnings.push(`step ${p.index + 1} (${p.action.name}) cannot be undone and stays applied`);
        continue;
      }
      try {
        await p.action.undo(p.params, result, actx);
        stepReport.status = 'undone';
        this.deps.metrics?.runbookSteps.labels(p.action.name, 'undone').inc();
        await this.deps.recorder.record(actx.incidentId, 'action', actx.actor, 'runbook.step.undone', `${p.action.name}: undone after a later step failed`, { runbook, step: p.index + 1, action: p.action.name });
      } catch (err) {
        stepReport.status = 'undo-failed';
        stepReport.error = errorOf(err);
        this.deps.logger.error({ err, action: p.action.name }, 'compensation failed');
        report.warnings.push(`step ${p.index + 1} (${p.action.name}) could not be undone: ${stepReport.error.message}`);
        await this.deps.recorder.record(actx.incidentId, 'action', actx.actor, 'runbook.step.undo-failed', `${p.action.name}: undo failed`, { runbook, step: p.index + 1, action: p.action.name, error: stepReport.error }, 'deny');
      }
    }
  }
}
