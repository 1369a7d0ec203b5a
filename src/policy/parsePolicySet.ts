import { WardenError } from '../errors/index.js';
import { cedarWasm, type DetailedError, type PolicyJson } from './cedarWasm.js';

export interface ParsedPolicy {
  /** `@id("…")` annotation when present, else `policy<N>` by position (as Cedar names them). */
  id: string;
  /** Position in the source text (0-based). */
  index: number;
  text: string;
  json: PolicyJson;
}

/** Limits that keep a hostile or mistaken push from exhausting a PEP. */
export const MAX_POLICY_TEXT_BYTES = 8 * 1024 * 1024;
export const MAX_POLICIES = 200_000;

const ID_PATTERN = /^[A-Za-z0-9_.:@/-]{1,128}$/;

/** Renders cedar-wasm diagnostics as `line:col message` (first few only). */
export function describeCedarErrors(errors: readonly DetailedError[], text?: string, limit = 3): string {
  const lineCol = (offset: number): string => {
    if (text === undefined) return '';
    const before = text.slice(0, offset);
    const line = before.split('\n').length;
    const col = offset - before.lastIndexOf('\n');
    return `${line}:${col} `;
  };
  const parts = errors.slice(0, limit).map((e) => {
    const loc = e.sourceLocations?.[0];
    return `${loc ? lineCol(loc.start) : ''}${e.message}${e.help ? ` (${e.help})` : ''}`;
  });
  if (errors.length > limit) parts.push(`… and ${errors.length - limit} more`);
  return parts.join('; ');
}

/**
 * Parses a Cedar policy set with the reference parser and returns each policy's JSON form
 * (the compiler's input) and its text (what the reference evaluator and explanations use).
 */
export function parsePolicySet(text: string): ParsedPolicy[] {
  if (Buffer.byteLength(text) > MAX_POLICY_TEXT_BYTES) {
    throw new WardenError('WARDEN_POLICY_TOO_LARGE', `policy text exceeds ${MAX_POLICY_TEXT_BYTES} bytes`);
  }
  const parts = cedarWasm.policySetTextToParts(text);
  if (parts.type === 'failure') {
    throw new WardenError('WARDEN_POLICY_PARSE_FAILED', `Cedar parse error: ${describeCedarErrors(parts.errors, text)}`);
  }
  if (parts.policy_templates.length > 0) {
    throw new WardenError('WARDEN_POLICY_UNSUPPORTED', 'policy templates (?principal / ?resource slots) are not supported; write static policies');
  }
  const n = parts.policies.length;
  if (n > MAX_POLICIES) throw new WardenError('WARDEN_POLICY_TOO_LARGE', `more than ${MAX_POLICIES} policies`);
  // cedar-wasm returns the policies sorted by their generated id ("policy0" < "policy10" < "policy2"),
  // so rebuild the source order from the same byte-wise sort.
  const generated = Array.from({ length: n }, (_, i) => `policy${i}`);
  const sorted = [...generated].sort();
  const out: ParsedPolicy[] = new Array(n);
  const seen = new Map<string, number>();
  parts.policies.forEach((policyText, k) => {
    const index = Number(sorted[k]!.slice('policy'.length));
    const j = cedarWasm.policyToJson(policyText);
    if (j.type === 'failure') throw new WardenError('WARDEN_POLICY_PARSE_FAILED', `Cedar parse error: ${describeCedarErrors(j.errors, policyText)}`);
    const annotated = j.json.annotations?.id;
    if (annotated !== undefined && !ID_PATTERN.test(annotated)) {
      throw new WardenError('WARDEN_POLICY_PARSE_FAILED', `@id(${JSON.stringify(annotated)}) must be 1-128 characters of A-Z a-z 0-9 _ . : @ / -`);
    }
    out[index] = { id: annotated ?? `policy${index}`, index, text: policyText, json: j.json };
  });
  for (const p of out) {
    const prev = seen.get(p.id);
    if (prev !== undefined) throw new WardenError('WARDEN_POLICY_PARSE_FAILED', `duplicate policy id ${JSON.stringify(p.id)} (policies ${prev} and ${p.index})`);
    seen.set(p.id, p.index);
  }
  return out;
}
