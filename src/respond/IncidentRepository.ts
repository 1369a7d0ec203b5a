import { randomBytes } from 'node:crypto';
import { WardenError } from '../errors/index.js';
import type { Database, Queryable } from '../store/index.js';
import { INCIDENT_STATES, type Incident, type IncidentState, type IncidentTarget, type IncidentWithTimeline, type Severity, type TimelineEvent, type TimelineKind } from './types.js';

interface IncidentRow {
  id: string;
  title: string;
  severity: Severity;
  state: IncidentState;
  rule: string | null;
  subject: string | null;
  target: IncidentTarget;
  opened_by: string;
  opened_at: Date | string;
  updated_at: Date | string;
  drill: boolean;
}

interface EventRow {
  seq: string | number;
  at: Date | string;
  kind: TimelineKind;
  actor: string;
  summary: string;
  details: Record<string, unknown>;
}

const iso = (d: Date | string): string => new Date(d).toISOString();

function toIncident(r: IncidentRow): Incident {
  return { id: r.id, title: r.title, severity: r.severity, state: r.state, rule: r.rule, subject: r.subject, target: r.target ?? {}, openedBy: r.opened_by, openedAt: iso(r.opened_at), updatedAt: iso(r.updated_at), drill: r.drill };
}

export interface OpenIncidentInput {
  title: string;
  severity: Severity;
  rule?: string | null;
  subject?: string | null;
  target?: IncidentTarget;
  openedBy: string;
  drill?: boolean;
  /** When detection happened (defaults to now); the timeline's first event carries it. */
  at?: Date;
  /** Chosen beforehand (newIncidentId) when a record must name the incident before it exists. */
  id?: string;
}

const ID_PATTERN = /^inc_[0-9a-f]{16}$/;
const MAX_TIMELINE = 10_000;

export function newIncidentId(): string {
  return `inc_${randomBytes(8).toString('hex')}`;
}

/** Moves are forward-only: a closed incident stays closed, a contained one cannot be reopened. */
export function canTransition(from: IncidentState, to: IncidentState): boolean {
  return INCIDENT_STATES.indexOf(to) > INCIDENT_STATES.indexOf(from);
}

/** Incidents and their timelines. Each write is one transaction: an event is never lost from its incident. */
export class IncidentRepository {
  constructor(private readonly db: Database) {}

  async open(input: OpenIncidentInput): Promise<Incident> {
    const id = input.id ?? newIncidentId();
    if (!ID_PATTERN.test(id)) throw new WardenError('WARDEN_INPUT_INVALID', 'an incident id is inc_ and 16 hex digits');
    const at = input.at ?? new Date();
    return this.db.transaction(async (tx) => {
      const r = await tx.query<IncidentRow>(
        `INSERT INTO respond_incidents (id, title, severity, state, rule, subject, target, opened_by, opened_at, updated_at, drill)
         VALUES ($1,$2,$3,'open',$4,$5,$6::jsonb,$7,$8,$8,$9) RETURNING *`,
        [id, input.title.slice(0, 200), input.severity, input.rule ?? null, input.subject ?? null, JSON.stringify(input.target ?? {}), input.openedBy, at, input.drill ?? false],
      );
      await this.insertEvent(tx, id, at, 'state', input.openedBy, 'opened', { state: 'open', severity: input.severity, rule: input.rule ?? null });
      return toIncident(r.rows[0]!);
    });
  }

  async get(id: string): Promise<Incident> {
    if (!ID_PATTERN.test(id)) throw new WardenError('WARDEN_RESPOND_INCIDENT_NOT_FOUND', 'no such incident');
    const r = await this.db.query<IncidentRow>('SELECT * FROM respond_incidents WHERE id = $1', [id]);
    if (!r.rows[0]) throw new WardenError('WARDEN_RESPOND_INCIDENT_NOT_FOUND', `no incident ${id}`);
    return toIncident(r.rows[0]);
  }

  async show(id: string): Promise<IncidentWithTimeline> {
    const incident = await this.get(id);
    const r = await this.db.query<EventRow>('SELECT seq, at, kind, actor, summary, details FROM respond_incident_events WHERE incident_id = $1 ORDER BY at, seq LIMIT $2', [id, MAX_TIMELINE]);
    return { ...incident, timeline: r.rows.map((e) => ({ seq: Number(e.seq), at: iso(e.at), kind: e.kind, actor: e.actor, summary: e.summary, details: e.details ?? {} })) };
  }

  async list(filter: { state?: IncidentState; limit?: number } = {}): Promise<Incident[]> {
    const limit = Math.min(Math.max(filter.limit ?? 100, 1), 1000);
    const r = filter.state
      ? await this.db.query<IncidentRow>('SELECT * FROM respond_incidents WHERE state = $1 ORDER BY opened_at DESC, id LIMIT $2', [filter.state, limit])
      : await this.db.query<IncidentRow>('SELECT * FROM respond_incidents ORDER BY opened_at DESC, id LIMIT $1', [limit]);
    return r.rows.map(toIncident);
  }

  /** Latest incident a rule opened for a subject since `since` (alert deduplication). */
  async findRecent(rule: string, subject: string, since: Date): Promise<Incident | null> {
    const r = await this.db.query<IncidentRow>(
      `SELECT * FROM respond_incidents WHERE rule = $1 AND subject = $2 AND opened_at >= $3 AND state <> 'closed' ORDER BY opened_at DESC LIMIT 1`,
      [rule, subject, since],
    );
    return r.rows[0] ? toIncident(r.rows[0]) : null;
  }

  async countByState(): Promise<Record<IncidentState, number>> {
    const r = await this.db.query<{ state: IncidentState; n: string | number }>('SELECT state, count(*) AS n FROM respond_incidents GROUP BY state');
    const out = Object.fromEntries(INCIDENT_STATES.map((s) => [s, 0])) as Record<IncidentState, number>;
    for (const row of r.rows) out[row.state] = Number(row.n);
    return out;
  }

  /** Forward-only state change, recorded on the timeline in the same transaction. */
  async transition(id: string, to: IncidentState, actor: string, note?: string, at = new Date()): Promise<Incident> {
    await this.get(id);
    return this.db.transaction(async (tx) => {
      const cur = await tx.query<IncidentRow>('SELECT * FROM respond_incidents WHERE id = $1 FOR UPDATE', [id]);
      const from = cur.rows[0]!.state;
      if (from === to) return toIncident(cur.rows[0]!);
      if (!canTransition(from, to)) throw new WardenError('WARDEN_RESPOND_TRANSITION_INVALID', `incident ${id} is ${from} and cannot move to ${to}`);
      const r = await tx.query<IncidentRow>('UPDATE respond_incidents SET state = $2, updated_at = $3 WHERE id = $1 RETURNING *', [id, to, at]);
      await this.insertEvent(tx, id, at, 'state', actor, note ? `${from} → ${to}: ${note}` : `${from} → ${to}`, { from, to });
      return toIncident(r.rows[0]!);
    });
  }

  /** One statement: touches the incident and appends the event atomically (not found = no row). */
  async addEvent(id: string, kind: TimelineKind, actor: string, summary: string, details: Record<string, unknown> = {}, at = new Date()): Promise<TimelineEvent> {
    if (!ID_PATTERN.test(id)) throw new WardenError('WARDEN_RESPOND_INCIDENT_NOT_FOUND', 'no such incident');
    const r = await this.db.query<EventRow>(
      `WITH touched AS (UPDATE respond_incidents SET updated_at = GREATEST(updated_at, $2) WHERE id = $1 RETURNING id)
       INSERT INTO respond_incident_events (incident_id, at, kind, actor, summary, details)
       SELECT id, $2, $3, $4, $5, $6::jsonb FROM touched RETURNING seq, at, kind, actor, summary, details`,
      [id, at, kind, actor.slice(0, 300), summary.slice(0, 500), JSON.stringify(details)],
    );
    const e = r.rows[0];
    if (!e) throw new WardenError('WARDEN_RESPOND_INCIDENT_NOT_FOUND', `no incident ${id}`);
    return { seq: Number(e.seq), at: iso(e.at), kind: e.kind, actor: e.actor, summary: e.summary, details: e.details ?? {} };
  }

  private async insertEvent(tx: Queryable, id: string, at: Date, kind: TimelineKind, actor: string, summary: string, details: Record<string, unknown>): Promise<TimelineEvent> {
    const r = await tx.query<EventRow>(
      `INSERT INTO respond_incident_events (incident_id, at, kind, actor, summary, details) VALUES ($1,$2,$3,$4,$5,$6::jsonb) RETURNING seq, at, kind, actor, summary, details`,
      [id, at, kind, actor.slice(0, 300), summary.slice(0, 500), JSON.stringify(details)],
    );
    const e = r.rows[0]!;
    return { seq: Number(e.seq), at: iso(e.at), kind: e.kind, actor: e.actor, summary: e.summary, details: e.details ?? {} };
  }
}
