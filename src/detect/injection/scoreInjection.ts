import { normalizeText } from '../text/normalizeText.js';
import { injectionPatterns, weakSignals } from './injectionPatterns.js';

export interface InjectionScore {
  /** 0 (benign) to 1 (certain injection). */
  score: number;
  /** Categories that matched, e.g. ['instruction_override', 'encoded_payload']. */
  kinds: string[];
}

// A candidate is a whole run of these characters (the greedy match from the run's start), so the
// lookbehind changes no match: it only stops the engine rescanning the run from each inner position.
const BASE64_CANDIDATE = /(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{24,}={0,2}/g;
const MIN_CANDIDATE_CHARS = 24;
const NO_PAYLOADS: readonly string[] = [];
const MAX_DECODED_CANDIDATES = 8;
const MAX_CANDIDATE_CHARS = 16_384;

/** No pattern matches fewer characters ("<sys>"); shorter texts (a "hi") skip the regexes. */
const MIN_PATTERN_CHARS = 5;

function matchPatterns(normalized: string, weights: Map<string, number>): void {
  if (normalized.length < MIN_PATTERN_CHARS) return;
  for (const p of injectionPatterns) {
    if ((weights.get(p.kind) ?? 0) >= p.weight) continue;
    if (p.pattern.test(normalized)) weights.set(p.kind, p.weight);
  }
  for (const p of weakSignals) {
    if (!weights.has(p.kind) && p.pattern.test(normalized)) weights.set(p.kind, p.weight);
  }
}

/** Decodes base64/base64url runs that hold readable text (payloads hidden from word filters). */
function decodedPayloads(original: string): readonly string[] {
  if (original.length < MIN_CANDIDATE_CHARS) return NO_PAYLOADS;
  const out: string[] = [];
  BASE64_CANDIDATE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = BASE64_CANDIDATE.exec(original)) !== null && out.length < MAX_DECODED_CANDIDATES) {
    const candidate = m[0].slice(0, MAX_CANDIDATE_CHARS);
    // Opaque identifiers (hex digests, ids) are all one case or lack letters; encoded prose mixes cases.
    if (!/[a-z]/.test(candidate) || !/[A-Z]/.test(candidate)) continue;
    const bytes = Buffer.from(candidate, candidate.includes('-') || candidate.includes('_') ? 'base64url' : 'base64');
    if (bytes.length < 12) continue;
    let printable = 0;
    for (const b of bytes) if ((b >= 0x20 && b < 0x7f) || b === 0x0a || b === 0x0d || b === 0x09) printable++;
    if (printable / bytes.length < 0.9) continue;
    out.push(bytes.toString('latin1'));
  }
  return out;
}

function combine(weights: Map<string, number>): number {
  let keep = 1;
  for (const w of weights.values()) keep *= 1 - w;
  return 1 - keep;
}

/**
 * Scores one piece of untrusted text (a user message or retrieved/tool content) for prompt
 * injection. Heuristic by design: it is the product's own first line, cheap enough for every
 * request; a model-based classifier can be added through ExternalInjectionClassifier.
 */
export function scoreInjection(text: string, maxChars = 65_536): InjectionScore {
  const scanned = text.length > maxChars ? text.slice(0, maxChars / 2) + '\n' + text.slice(-maxChars / 2) : text;
  const n = normalizeText(scanned);
  const weights = new Map<string, number>();
  matchPatterns(n.text, weights);
  for (const decoded of decodedPayloads(scanned)) {
    const inner = new Map<string, number>();
    matchPatterns(normalizeText(decoded).text, inner);
    inner.delete('trigger_word');
    if (inner.size > 0) {
      const strongest = Math.max(...inner.values());
      weights.set('encoded_payload', Math.max(weights.get('encoded_payload') ?? 0, Math.min(0.95, strongest + 0.1)));
    }
  }
  if (n.tags > 0) weights.set('ascii_smuggling', 0.35);
  if (n.invisible >= 3) weights.set('invisible_characters', 0.15);
  if (weights.size === 0) return { score: 0, kinds: [] };
  return { score: combine(weights), kinds: [...weights.keys()] };
}
