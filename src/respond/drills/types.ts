/** The admin API as drills use it (the CLI's AdminClient satisfies this). */
export interface DrillAdminApi {
  call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T>;
}

export interface DrillCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface ProbeStats {
  sent: number;
  succeeded: number;
}

export interface DrillReport {
  scenario: DrillScenario;
  ok: boolean;
  incidentId: string | null;
  /**
   * How the incident was detected: `report` (a leak report the drill sent, as secret scanning would),
   * `pep` (a gateway detector), `control-plane` (the control plane itself, e.g. an SVID used from a new
   * address) or `simulated-detector` (the drill raised the alarm in place of a detector).
   */
  detection: 'report' | 'pep' | 'control-plane' | 'simulated-detector';
  /**
   * Detection: from the signal reaching the control plane to the incident being opened (server clock);
   * compromised-worker: from the attacker's first request to the alert on the incident timeline.
   */
  timeToDetectMs: number | null;
  /** Containment: from detection until a PEP first rejected the compromised credential (upper bound, drill's clock). */
  timeToContainMs: number | null;
  /** The budget the scenario is held to (leaked-key: 2000 ms), or null. */
  containBudgetMs: number | null;
  /** Attacker requests sent after the first rejection that still succeeded (must be 0). */
  leaksAfterContainment: number;
  /** Attacker requests sent before / after the first refusal (compromised-worker: before = from the new address until quarantined). */
  before: ProbeStats;
  after: ProbeStats;
  /** compromised-worker: the legitimate worker's requests from its own address before the attack. */
  worker?: ProbeStats;
  checks: DrillCheck[];
  timeline: { at: string; kind: string; actor: string; summary: string }[];
  /** poisoned-dataset: model versions derived from the dataset, those revoked, and the deployments moved (to null = nothing serving). */
  models?: { blastRadius: string[]; revoked: string[]; rolledBack: { model: string; from: string; to: string | null }[] };
  error?: { code: string; message: string };
}

export const DRILL_SCENARIOS = ['leaked-key', 'compromised-worker', 'extraction', 'poisoned-dataset'] as const;
export type DrillScenario = (typeof DRILL_SCENARIOS)[number];
