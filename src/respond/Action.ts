import { WardenError } from '../errors/index.js';
import type { AuditLog } from '../audit/index.js';
import type { Logger } from '../observe/index.js';
import type { StepParams } from './Runbook.js';

/** What an action may touch while it runs. */
export interface ActionContext {
  incidentId: string | null;
  /** Who runs it (Admin::"…" or Rule::"…"), recorded with every change. */
  actor: string;
  audit: AuditLog;
  logger: Logger;
  /**
   * The admin request this run answers, passed with 'snapshot:changed': that request alone is
   * told when the PEP snapshot cannot be rebuilt to include its change.
   */
  changedBy?: object;
}

export interface ActionPlan {
  /** One line a human can approve: what would change. */
  description: string;
  /** True when the target is already in the desired state (applying changes nothing). */
  alreadyDone: boolean;
}

export interface ActionResult {
  /** False when the target was already in the desired state (idempotent re-run). */
  changed: boolean;
  summary: string;
  /** Identifiers and counts only; what undo needs to restore the previous state. */
  details: Record<string, unknown>;
}

/**
 * One runbook action. `plan` validates parameters and checks preconditions without changing
 * anything (dry run); `apply` is idempotent; `undo`, when present, restores what `apply` changed
 * (given its result) and is used to compensate when a later step fails.
 */
export interface Action {
  readonly name: string;
  readonly description: string;
  /** Changes no security state (evidence, lookups, notifications): never undone, never blocks ordering. */
  readonly readOnly?: boolean;
  plan(params: StepParams, ctx: ActionContext): Promise<ActionPlan>;
  apply(params: StepParams, ctx: ActionContext): Promise<ActionResult>;
  undo?(params: StepParams, result: ActionResult, ctx: ActionContext): Promise<void>;
}

/** Reads a required string parameter. */
export function stringParam(params: StepParams, key: string, action: string, pattern?: RegExp): string {
  const v = params[key];
  if (typeof v !== 'string' || v.length === 0 || v.length > 2048 || (pattern && !pattern.test(v))) {
    throw new WardenError('WARDEN_RESPOND_ACTION_PARAMS', `${action}: parameter "${key}" is required${pattern ? ' and must match ' + pattern.source : ''}`);
  }
  return v;
}
