import { findSensitive, type FindOptions, type SensitiveFinding } from './findSensitive.js';

export interface RedactionResult {
  text: string;
  /** Distinct kinds that were redacted, e.g. ['email', 'credit_card']. */
  kinds: string[];
}

export function redactionMarker(kind: string): string {
  return `[REDACTED:${kind}]`;
}

/** Replaces findings (sorted, non-overlapping) with markers. */
export function applyRedactions(text: string, findings: readonly SensitiveFinding[], from = 0, to = text.length): string {
  let out = '';
  let pos = from;
  for (const f of findings) {
    if (f.start < from || f.end > to) continue;
    out += text.slice(pos, f.start) + redactionMarker(f.kind);
    pos = f.end;
  }
  return out + text.slice(pos, to);
}

/** Redacts personal data and secrets in a complete text (non-streaming completions, prompts). */
export function redactText(text: string, options: FindOptions = {}): RedactionResult {
  const findings = findSensitive(text, options);
  if (findings.length === 0) return { text, kinds: [] };
  return { text: applyRedactions(text, findings), kinds: [...new Set(findings.map((f) => f.kind))] };
}
