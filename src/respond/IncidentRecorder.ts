import type { AuditLog, AuditRecord } from '../audit/index.js';
import type { Logger } from '../observe/index.js';
import type { IncidentRepository } from './IncidentRepository.js';
import type { TimelineKind } from './types.js';

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

  async record(incidentId: string | null, kind: TimelineKind, actor: string, action: string, summary: string, details: Record<string, unknown> = {}, decision: AuditRecord['decision'] = 'allow'): Promise<void> {
    if (incidentId) await this.incidents.addEvent(incidentId, kind, actor, summary, details);
    await this.appendAudit(incidentId, actor, action, details, decision);
  }

  async appendAudit(incidentId: string | null, actor: string, action: string, details: Record<string, unknown>, decision: AuditRecord['decision'] = 'allow', code?: string): Promise<void> {
    try {
      await this.audit.append({
        ts: new Date().toISOString(),
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
