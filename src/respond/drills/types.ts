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
  /** How the incident was detected: by Warden itself or by an alarm the drill raised as the detector. */
  detection: 'report' | 'pep' | 'simulated-detector';
  /** Detection: from the signal reaching the control plane to the incident being opened (server clock). */
  timeToDetectMs: number | null;
  /** Containment: from detection until a PEP first rejected the compromised credential (upper bound, drill's clock). */
  timeToContainMs: number | null;
  /** The budget the scenario is held to (leaked-key: 2000 ms), or null. */
  containBudgetMs: number | null;
  /** Attacker requests sent after the first rejection that still succeeded (must be 0). */
  leaksAfterContainment: number;
  before: ProbeStats;
  after: ProbeStats;
  checks: DrillCheck[];
  timeline: { at: string; kind: string; actor: string; summary: string }[];
  /** poisoned-dataset: model versions derived from the dataset, those revoked, and the deployments moved (to null = nothing serving). */
  models?: { blastRadius: string[]; revoked: string[]; rolledBack: { model: string; from: string; to: string | null }[] };
  error?: { code: string; message: string };
}

export const DRILL_SCENARIOS = ['leaked-key', 'compromised-worker', 'extraction', 'poisoned-dataset'] as const;
export type DrillScenario = (typeof DRILL_SCENARIOS)[number];
