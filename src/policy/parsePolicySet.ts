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
 * Splits policy-set text at the `;` that end policies (outside string literals and `//`
 * comments). Hand-written because cedar-wasm's own splitter (`policySetTextToParts`) grows
 * superlinearly with the set size; each piece is still parsed by the reference parser.
 */
export function splitPolicies(text: string): { text: string; start: number }[] {
  const out: { text: string; start: number }[] = [];
  let start = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      i++;
      while (i < n && text.charCodeAt(i) !== 0x22) i += text.charCodeAt(i) === 0x5c /* \ */ ? 2 : 1;
      i++;
    } else if (c === 0x2f /* / */ && text.charCodeAt(i + 1) === 0x2f) {
      while (i < n && text.charCodeAt(i) !== 0x0a) i++;
    } else if (c === 0x3b /* ; */) {
      out.push({ text: text.slice(start, i + 1), start });
      start = ++i;
    } else i++;
  }
  const rest = text.slice(start);
  // Whatever follows the last `;` must be blank or comments; otherwise let the parser explain.
  if (rest.replace(/\/\/[^\n]*/g, '').trim() !== '') out.push({ text: rest, start });
  return out;
}

/** Leading blank lines and `//` comments belong to no policy: keep explanations tidy. */
function stripLeadingComments(text: string): string {
  let i = 0;
  for (;;) {
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (text.startsWith('//', i)) {
      const nl = text.indexOf('\n', i);
      i = nl < 0 ? text.length : nl + 1;
    } else return i === 0 ? text : text.slice(i);
  }
}

/** JSON form by policy text: snapshots and bundles recompile mostly unchanged policies. */
const jsonCache = new Map<string, PolicyJson>();
const JSON_CACHE_MAX = 250_000;

function policyJson(policyText: string, fullText: string, offset: number): PolicyJson {
  const hit = jsonCache.get(policyText);
  if (hit !== undefined) return hit;
  const j = cedarWasm.policyToJson(policyText);
  if (j.type === 'failure') {
    if (policyText.includes('?') && cedarWasm.templateToJson(policyText).type === 'success') {
      throw new WardenError('WARDEN_POLICY_UNSUPPORTED', 'policy templates (?principal / ?resource slots) are not supported; write static policies');
    }
    const shifted = j.errors.map((e) => ({ ...e, sourceLocations: e.sourceLocations?.map((l) => ({ ...l, start: l.start + offset, end: l.end + offset })) }));
    throw new WardenError('WARDEN_POLICY_PARSE_FAILED', `Cedar parse error: ${describeCedarErrors(shifted, fullText)}`);
  }
  if (jsonCache.size >= JSON_CACHE_MAX) jsonCache.clear();
  jsonCache.set(policyText, j.json);
  return j.json;
}

/**
 * Parses a Cedar policy set with the reference parser and returns each policy's JSON form
 * (the compiler's input) and its text (what the reference evaluator and explanations use).
 */
function parsePiece(piece: { text: string; start: number }, index: number, text: string, seen: Map<string, number>): ParsedPolicy {
  const json = policyJson(piece.text, text, piece.start);
  const annotated = json.annotations?.id;
  if (annotated !== undefined && !ID_PATTERN.test(annotated)) {
    throw new WardenError('WARDEN_POLICY_PARSE_FAILED', `@id(${JSON.stringify(annotated)}) must be 1-128 characters of A-Z a-z 0-9 _ . : @ / -`);
  }
  const id = annotated ?? `policy${index}`;
  const prev = seen.get(id);
  if (prev !== undefined) throw new WardenError('WARDEN_POLICY_PARSE_FAILED', `duplicate policy id ${JSON.stringify(id)} (policies ${prev} and ${index})`);
  seen.set(id, index);
  return { id, index, text: stripLeadingComments(piece.text), json };
}

export function parsePolicySet(text: string): ParsedPolicy[] {
  if (Buffer.byteLength(text) > MAX_POLICY_TEXT_BYTES) {
    throw new WardenError('WARDEN_POLICY_TOO_LARGE', `policy text exceeds ${MAX_POLICY_TEXT_BYTES} bytes`);
  }
  const pieces = splitPolicies(text);
  if (pieces.length > MAX_POLICIES) throw new WardenError('WARDEN_POLICY_TOO_LARGE', `more than ${MAX_POLICIES} policies`);
  const seen = new Map<string, number>();
  const out: ParsedPolicy[] = new Array(pieces.length);
  for (let index = 0; index < pieces.length; index++) out[index] = parsePiece(pieces[index]!, index, text, seen);
  return out;
}
