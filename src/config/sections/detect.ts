import { z } from 'zod';

const guardAction = z.enum(['log', 'flag', 'block']);
const textAction = z.enum(['log', 'redact', 'block']);

const injectionRoute = z.strictObject({
  threshold: z.number().min(0).max(1).optional(),
  action: guardAction.optional(),
  enabled: z.boolean().optional(),
});

const injectionSection = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** Score in [0, 1] at or above which a message counts as an injection. */
    threshold: z.number().min(0).max(1).default(0.5),
    action: guardAction.default('block'),
    /** Chat roles whose content is scanned: user messages and retrieved/tool content. */
    roles: z.array(z.enum(['system', 'user', 'assistant', 'tool', 'function', 'developer'])).default(['user', 'tool', 'function']),
    /** Per-route overrides, keyed by route or model name. */
    routes: z.record(z.string(), injectionRoute).default({}),
    /** Characters scanned for injection per request; longer content is scanned head and tail. */
    maxScanChars: z.number().int().min(256).max(1_048_576).default(65_536),
    /** Optional external classifier (e.g. a Prompt Guard server) answering {"score": 0..1}. */
    externalUrl: z.url().optional(),
    externalTimeoutMs: z.number().int().min(1).max(10_000).default(300),
    externalThreshold: z.number().min(0).max(1).default(0.5),
    /** When the external classifier is unreachable: true lets the local score decide, false blocks. */
    externalFailOpen: z.boolean().default(true),
  })
  .prefault({});

const sensitiveSection = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** What to do when a prompt contains personal data. */
    promptAction: textAction.default('redact'),
    /** What to do when a completion contains personal data (streams are redacted in flight). */
    completionAction: textAction.default('redact'),
    /** Recognizers to run; empty means all. */
    kinds: z.array(z.string()).default([]),
  })
  .prefault({});

const secretsSection = z
  .strictObject({
    enabled: z.boolean().default(true),
    promptAction: textAction.default('block'),
    completionAction: textAction.default('redact'),
    /** Shannon entropy (bits/char) above which a long opaque token counts as a secret. */
    entropyBitsPerChar: z.number().min(2).max(6).default(4.0),
    minTokenLength: z.number().int().min(16).max(256).default(32),
  })
  .prefault({});

const oodSection = z
  .strictObject({
    enabled: z.boolean().default(true),
    action: guardAction.default('flag'),
    /** Slack around the training range, as a fraction of the range, before a value is a violation. */
    rangeTolerance: z.number().min(0).max(10).default(0.1),
    /** Multiplies the profile's calibrated Mahalanobis threshold. */
    thresholdScale: z.number().min(0.1).max(100).default(1),
    /**
     * Answer requests with an out-of-distribution row with the label only (probabilities one-hot):
     * equation-solving extraction needs probabilities on arbitrary points, clients with real data do not.
     */
    labelOnlyOutput: z.boolean().default(true),
  })
  .prefault({});

const extractionSection = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** What a raised alarm does to the principal's later queries. */
    action: guardAction.default('block'),
    /**
     * PRADA: alarm when Shapiro–Wilk W of the minimum-distance set drops below delta. The paper's
     * 0.95 suits image models; 0.75 is below the lowest W of 200 simulated benign iris users (docs/detect.md).
     */
    delta: z.number().min(0).max(1).default(0.75),
    /** PRADA: distances collected before the normality test runs. */
    minQueries: z.number().int().min(3).max(5000).default(40),
    /** PRADA: most recent distances kept per principal and model. */
    window: z.number().int().min(10).max(5000).default(500),
    /** Out-of-distribution queries within the last `oodWindow` queries that raise an alarm. */
    oodAlarmCount: z.number().int().min(1).max(1000).default(3),
    oodWindow: z.number().int().min(1).max(10_000).default(20),
    /**
     * Sign-step probes (x ± λ in every feature, from a recent query) of one step size within the
     * last `stepProbeWindow` queries that raise an alarm; 0 disables. 2 in 4 alarms on the second
     * probe of a Jacobian-augmentation round; see docs/detect.md for the benign rate (iris: 0.3%
     * of users replaying all 150 rows, 3 in 8: 0.02%).
     */
    stepProbeCount: z.number().int().min(0).max(1000).default(2),
    stepProbeWindow: z.number().int().min(2).max(256).default(4),
    /** Query budget per principal and model; 0 disables. */
    budgetQueries: z.number().int().min(0).default(10_000),
    budgetWindowSeconds: z.number().int().min(1).default(86_400),
    /**
     * Feature-space coverage (rate of new regions): alarm when a principal has visited more grid
     * cells than coverageFactor × the cells the training data occupies (grid from the profile).
     */
    coverageFactor: z.number().min(0.1).max(1000).default(1.5),
    /** Principals tracked at once; the least recently seen are forgotten beyond this. */
    maxPrincipals: z.number().int().min(1).max(1_000_000).default(10_000),
  })
  .prefault({});

const hardeningModel = z.strictObject({
  /** Round probabilities to this many decimals. */
  decimals: z.number().int().min(0).max(8).optional(),
  /** Keep only the k most likely classes (others become 0). */
  topK: z.number().int().min(1).optional(),
  /** Return only the label (probabilities become one-hot). */
  top1Only: z.boolean().optional(),
});

const driftSection = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** Recent inputs per model compared with the profile. */
    window: z.number().int().min(20).max(100_000).default(500),
    /** Inputs between two recomputations of PSI/KS. */
    every: z.number().int().min(1).default(50),
    /** A feature drifts when its PSI is above psiAlarm and its KS p-value below ksPValue (both: robust on small windows). */
    psiAlarm: z.number().min(0).default(0.25),
    ksPValue: z.number().min(0).max(1).default(0.01),
  })
  .prefault({});

const performanceSection = z
  .strictObject({
    enabled: z.boolean().default(true),
    window: z.number().int().min(10).max(100_000).default(200),
    minSamples: z.number().int().min(1).default(50),
    /** Alarm when sliding-window accuracy falls below this. */
    minAccuracy: z.number().min(0).max(1).default(0.8),
    /** How long a served prediction can take feedback (POST /v1/feedback with its request id). */
    feedbackTtlSeconds: z.number().int().min(1).max(30 * 86_400).default(86_400),
    /** Served predictions kept for feedback per gateway; the oldest go first. */
    maxPendingPredictions: z.number().int().min(1).max(10_000_000).default(100_000),
  })
  .prefault({});

export const detectSection = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** Feature profiles by model name: path of a profile.json written by `warden detect profile fit`. */
    profiles: z.record(z.string(), z.string().min(1)).default({}),
    /**
     * Models with per-model state (extraction, accuracy) kept at once besides those an upstream
     * names or a profile covers: names a catch-all upstream (`models: ['*']`) serves are chosen by
     * clients, so the least recently used are forgotten beyond this.
     */
    maxModels: z.number().int().min(1).max(100_000).default(1000),
    injection: injectionSection,
    pii: sensitiveSection,
    secrets: secretsSection,
    ood: oodSection,
    extraction: extractionSection,
    hardening: z.record(z.string(), hardeningModel).default({}),
    drift: driftSection,
    performance: performanceSection,
  })
  .prefault({});

export type DetectConfig = z.infer<typeof detectSection>;
export type HardeningOptions = z.infer<typeof hardeningModel>;
