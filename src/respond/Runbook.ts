import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { WardenError } from '../errors/index.js';

const MAX_RUNBOOK_BYTES = 64 * 1024;
const name = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'lowercase letters, digits, . _ - (max 64)');

const stepSchema = z.strictObject({
  /** Action name from the ActionRegistry (block-api-key, quarantine-workload, …). */
  action: z.string().regex(/^[a-z0-9-]{1,64}$/),
  /** Parameters; string values may use {{target.<field>}} and {{incident.id}}. */
  with: z.record(z.string().regex(/^[A-Za-z0-9_]{1,64}$/), z.union([z.string().max(2048), z.number(), z.boolean(), z.array(z.string().max(2048)).max(100)])).default({}),
  /** A step that may fail without undoing the run (e.g. notify). */
  continueOnError: z.boolean().default(false),
});

export const runbookSchema = z.strictObject({
  name,
  description: z.string().max(2000).default(''),
  /** Target fields the runbook needs (checked before anything runs). */
  requires: z.array(z.string().regex(/^[A-Za-z0-9_]{1,64}$/)).max(32).default([]),
  /** State the incident moves to once every step succeeded (usually `contained`). */
  onSuccess: z.enum(['contained', 'eradicated', 'recovered', 'closed']).optional(),
  steps: z.array(stepSchema).min(1).max(50),
});

export type Runbook = z.infer<typeof runbookSchema>;
export type RunbookStep = z.infer<typeof stepSchema>;
export type StepParams = Record<string, string | number | boolean | string[]>;

/** Parses and validates a runbook (YAML text or an already-parsed object). */
export function parseRunbook(source: string | unknown, origin = 'runbook'): Runbook {
  let doc: unknown = source;
  if (typeof source === 'string') {
    if (Buffer.byteLength(source) > MAX_RUNBOOK_BYTES) throw new WardenError('WARDEN_RESPOND_RUNBOOK_INVALID', `${origin}: larger than ${MAX_RUNBOOK_BYTES} bytes`);
    try {
      doc = parseYaml(source, { maxAliasCount: 16 });
    } catch (cause) {
      throw new WardenError('WARDEN_RESPOND_RUNBOOK_INVALID', `${origin}: not valid YAML: ${(cause as Error).message.split('\n')[0]}`, { cause });
    }
  }
  const r = runbookSchema.safeParse(doc);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new WardenError('WARDEN_RESPOND_RUNBOOK_INVALID', `${origin}: ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  return r.data;
}

const PLACEHOLDER = /\{\{\s*(target|incident)\.([A-Za-z0-9_]{1,64})\s*\}\}/g;

/**
 * Fills {{target.x}} / {{incident.id}} in step parameters. A missing value is an error, never an
 * empty string: "block key ''" must not silently become "block nothing".
 */
export function resolveParams(params: StepParams, scope: { target: Record<string, string>; incident: Record<string, string> }, where: string): StepParams {
  const fill = (s: string): string =>
    s.replace(PLACEHOLDER, (_m, area: 'target' | 'incident', key: string) => {
      const v = scope[area][key];
      if (v === undefined || v === '') throw new WardenError('WARDEN_RESPOND_ACTION_PARAMS', `${where}: {{${area}.${key}}} has no value`);
      return v;
    });
  const out: StepParams = {};
  for (const [k, v] of Object.entries(params)) out[k] = typeof v === 'string' ? fill(v) : Array.isArray(v) ? v.map(fill) : v;
  return out;
}
