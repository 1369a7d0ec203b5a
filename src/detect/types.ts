/** Detectors that produce verdicts; stable names used in audit records and metric labels. */
export type DetectorName =
  | 'injection'
  | 'injection-external'
  | 'pii'
  | 'secrets'
  | 'range'
  | 'ood'
  | 'extraction'
  | 'budget'
  | 'drift'
  | 'accuracy';

export type DetectorAction = 'log' | 'flag' | 'block' | 'redact';

/**
 * One detector's finding on one request. It carries a score and kinds only, never the matched
 * text, so a verdict can go into an audit record or a log as it is.
 */
export interface Verdict {
  detector: DetectorName;
  action: DetectorAction;
  score?: number;
  /** Kinds of findings, e.g. ['credit_card', 'email'] or ['instruction_override']. */
  kinds?: string[];
  /** Where it was found: a chat role ('user', 'tool') or 'completion'. */
  source?: string;
}

/** An alarm raised by a stateful detector (extraction, drift, accuracy drop). */
export interface DetectorEvent {
  type: 'detector.alarm';
  detector: DetectorName;
  principal?: string;
  model?: string;
  /** Numbers and labels only (statistics, thresholds, counts); never inputs or text. */
  details: Record<string, number | string | boolean>;
}

export interface DetectorDeps {
  emit(event: DetectorEvent): void;
}

/** The WARDEN_GUARD_* code a blocking verdict turns into. */
export function guardCodeFor(v: Verdict):
  | 'WARDEN_GUARD_INJECTION'
  | 'WARDEN_GUARD_PII'
  | 'WARDEN_GUARD_SECRET'
  | 'WARDEN_GUARD_OOD'
  | 'WARDEN_GUARD_EXTRACTION'
  | 'WARDEN_GUARD_BUDGET' {
  switch (v.detector) {
    case 'injection':
    case 'injection-external':
      return 'WARDEN_GUARD_INJECTION';
    case 'pii':
      return 'WARDEN_GUARD_PII';
    case 'secrets':
      return 'WARDEN_GUARD_SECRET';
    case 'range':
    case 'ood':
    case 'drift':
    case 'accuracy':
      return 'WARDEN_GUARD_OOD';
    case 'budget':
      return 'WARDEN_GUARD_BUDGET';
    case 'extraction':
      return 'WARDEN_GUARD_EXTRACTION';
  }
}
