import { z } from 'zod';

const name = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'lowercase letters, digits, . _ - (max 64)');
const severity = z.enum(['critical', 'high', 'medium', 'low']);

/** What makes a rule fire. Exactly one of the condition kinds. */
const condition = z.union([
  /** A detector alarm (extraction, accuracy, drift, leaked-credential, dataset-poisoned, scan-finding, …). */
  z.strictObject({ detector: z.string().regex(/^[a-z0-9-]{1,64}$/) }),
  /** N denies from one principal within a window (gateway.decision events). */
  z.strictObject({ denies: z.number().int().min(1).max(100_000), withinSeconds: z.number().int().min(1).max(86_400) }),
  /** A principal (API key, SVID) seen from an address it was not seen from during its learning period. */
  z.strictObject({ newSourceAddress: z.strictObject({ learnSeconds: z.number().int().min(0).max(30 * 86_400).default(300) }) }),
  /** A metric crossing a threshold, evaluated every `respond.evaluateIntervalSeconds`. */
  z.strictObject({
    metric: z.string().regex(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,199}$/),
    labels: z.record(z.string().max(64), z.string().max(200)).default({}),
    above: z.number().optional(),
    below: z.number().optional(),
  }),
]);

export const alertRuleSchema = z.strictObject({
  name,
  when: condition,
  severity: severity.default('high'),
  /** Runbook run when the rule fires (by name); none = the incident is only opened. */
  runbook: name.optional(),
  /** Do not open a second incident for the same rule and subject within this time. */
  cooldownSeconds: z.number().int().min(0).max(86_400).default(300),
  enabled: z.boolean().default(true),
});

export type AlertRuleConfig = z.infer<typeof alertRuleSchema>;

/** The rules `warden up` runs with when warden.yaml names none; each binds a built-in runbook. */
export const DEFAULT_ALERT_RULES: z.input<typeof alertRuleSchema>[] = [
  // One incident per key while it is open (up to a day): repeated reports land on its timeline.
  { name: 'leaked-api-key', when: { detector: 'leaked-credential' }, severity: 'critical', runbook: 'contain-leaked-key', cooldownSeconds: 86_400 },
  { name: 'extraction-attack', when: { detector: 'extraction' }, severity: 'high', runbook: 'contain-extraction' },
  { name: 'compromised-workload', when: { detector: 'compromised-workload' }, severity: 'critical', runbook: 'quarantine-workload' },
  { name: 'poisoned-dataset', when: { detector: 'dataset-poisoned' }, severity: 'critical', runbook: 'poisoned-dataset' },
  { name: 'accuracy-drop', when: { detector: 'accuracy' }, severity: 'medium' },
  { name: 'scan-finding-on-serving-model', when: { detector: 'scan-finding' }, severity: 'high' },
  { name: 'deny-burst', when: { denies: 50, withinSeconds: 60 }, severity: 'medium' },
  // Raised by the control plane's workload API (identity.addressTracking): a stolen SVID and key.
  { name: 'svid-new-address', when: { detector: 'svid-new-address' }, severity: 'critical', runbook: 'quarantine-workload' },
  // Gateway decisions: any principal (API key, SVID) from an address unseen after its learning period.
  { name: 'new-source-address', when: { newSourceAddress: { learnSeconds: 300 } }, severity: 'high' },
];

export const respondSection = z
  .strictObject({
    /** Run alert rules and bound runbooks in the control plane. */
    enabled: z.boolean().default(true),
    /** Directories with extra runbooks (*.yaml); relative to the data dir. Built-ins are always loaded. */
    runbookDirs: z.array(z.string().min(1).max(1024)).max(32).default([]),
    // prefault, not default: the built-in rules go through the schema so their own defaults apply.
    alerts: z.array(alertRuleSchema).max(256).prefault(DEFAULT_ALERT_RULES),
    /** How often metric rules are evaluated. */
    evaluateIntervalSeconds: z.number().int().min(1).max(3600).default(15),
    /** Timeout of each notify-webhook call. */
    webhookTimeoutMs: z.number().int().min(100).max(60_000).default(5000),
    /** An open incident whose runbook failed runs it again on a later alert of its rule, at most this often. */
    retryFailedRunSeconds: z.number().int().min(1).max(86_400).default(30),
    /** Principals and addresses tracked by stateful rules (bounded memory). */
    maxTrackedPrincipals: z.number().int().min(100).max(10_000_000).default(100_000),
  })
  .prefault({});
