/** NIST SP 800-61 phases, in order. An incident only moves forward (skipping is allowed). */
export const INCIDENT_STATES = ['open', 'contained', 'eradicated', 'recovered', 'closed'] as const;
export type IncidentState = (typeof INCIDENT_STATES)[number];

export type Severity = 'critical' | 'high' | 'medium' | 'low';

/** What an incident is about: identifiers only (key ids, SPIFFE IDs, model names), never secrets. */
export type IncidentTarget = Record<string, string>;

export interface Incident {
  id: string;
  title: string;
  severity: Severity;
  state: IncidentState;
  /** Alert rule that opened it, or null when an operator declared it. */
  rule: string | null;
  /** Deduplication subject (principal, SPIFFE ID, model…) of the rule that fired. */
  subject: string | null;
  target: IncidentTarget;
  openedBy: string;
  openedAt: string;
  updatedAt: string;
  drill: boolean;
}

export type TimelineKind = 'state' | 'alert' | 'action' | 'plan' | 'note' | 'evidence';

export interface TimelineEvent {
  seq: number;
  at: string;
  kind: TimelineKind;
  /** Who did it: Admin::"…", Rule::"…" or System::"warden". */
  actor: string;
  summary: string;
  details: Record<string, unknown>;
}

export interface IncidentWithTimeline extends Incident {
  timeline: TimelineEvent[];
}

/**
 * A detector alarm as the control plane receives it (the detect module's DetectorEvent plus
 * detectors that live elsewhere: leaked-credential reports, scan findings, dataset poisoning).
 * Fields are identifiers and numbers only.
 */
export interface Alarm {
  type: 'detector.alarm';
  detector: string;
  principal?: string;
  model?: string;
  details: Record<string, number | string | boolean>;
  /** Set by the receiver: when the control plane saw the alarm (epoch ms). */
  receivedAt?: number;
}

/** What the gateway emits per decision on `ctx.events` ('gateway.decision'): defined where it is made. */
export type { DecisionEvent as GatewayDecisionEvent } from '../observe/index.js';
