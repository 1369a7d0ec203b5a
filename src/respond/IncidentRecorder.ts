import type { AuditLog, AuditRecord } from '../audit/index.js';
import type { Logger } from '../observe/index.js';
import type { IncidentRepository } from './IncidentRepository.js';
import type { TimelineKind } from './types.js';

export interface RecordBatch {
  record(...args: Parameters<IncidentRecorder['record']>): void;
  /** Waits for every record; resolves to the first failure, or null. */
  settle(): Promise<unknown>;
}

/**
 * Writes every incident event twice: to the incident's timeline (for people) and to the
 * Merkle audit log (tamper-evident). Admin actors give `admin` records, rules and the system
 * give `event` records. The audit append is awaited: a step is not done until it is recorded.
 */
export class IncidentRecorder {
  constructor(
    private readonly incidents: IncidentRepository,
    private readonly audit: AuditLog,
    private readonly logger: Logger,
  ) {}

  /**
   * Records that may be written while containment goes on: each is started at once (its time is
   * taken now, so the timeline keeps its order) and `settle()` waits for all of them.
   */
  batch(): RecordBatch {
    const pending: Promise<unknown>[] = [];
    return {
      record: (...args: Parameters<IncidentRecorder['record']>) => {
        pending.push(this.record(...args).then(() => null, (err: unknown) => err));
      },
      settle: async () => (await Promise.all(pending)).find((x) => x !== null) ?? null,
    };
  }

  async record(incidentId: string | null, kind: TimelineKind, actor: string, action: string, summary: string, details: Record<string, unknown> = {}, decision: AuditRecord['decision'] = 'allow'): Promise<void> {
    // Both at once: the timeline row and the audit record do not depend on each other.
    const at = new Date();
    await Promise.all([incidentId ? this.incidents.addEvent(incidentId, kind, actor, summary, details, at) : null, this.appendAudit(incidentId, actor, action, details, decision, undefined, at)]);
  }

  async appendAudit(incidentId: string | null, actor: string, action: string, details: Record<string, unknown>, decision: AuditRecord['decision'] = 'allow', code?: string, at = new Date()): Promise<void> {
    try {
      await this.audit.append({
        ts: at.toISOString(),
        kind: actor.startsWith('Admin::') ? 'admin' : 'event',
        principal: actor,
        action,
        resource: incidentId ? `Incident::${JSON.stringify(incidentId)}` : undefined,
        decision,
        code,
        details,
      });
    } catch (err) {
      // The timeline still has the event; an audit outage must be loud, not silent.
      this.logger.error({ err, action, incidentId }, 'audit append failed for an incident event');
      throw err;
    }
  }
}
