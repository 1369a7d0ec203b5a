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

/** Cedar ends a `//` comment at either line terminator (its lexer: `//[^\n\r]*`). */
const isLineEnd = (c: number): boolean => c === 0x0a || c === 0x0d;
/** Cedar's whitespace is Unicode White_Space (JS `\s` would also accept U+FEFF, which Cedar rejects). */
const CEDAR_SPACE = /\p{White_Space}/u;

/** Index of the first character at or after `i` that is neither Cedar whitespace nor inside a `//` comment. */
function skipTrivia(text: string, i: number): number {
  for (;;) {
    while (i < text.length && CEDAR_SPACE.test(text[i]!)) i++;
    if (!text.startsWith('//', i)) return i;
    while (i < text.length && !isLineEnd(text.charCodeAt(i))) i++;
  }
}

/**
 * Splits policy-set text at the `;` that end policies (outside string literals and `//`
 * comments, with Cedar's lexical rules). Hand-written because cedar-wasm's own splitter
 * (`policySetTextToParts`) grows superlinearly with the set size; each piece is still parsed
 * by the reference parser, and assertSplitMatchesCedar checks the count at push/check time.
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
      while (i < n && !isLineEnd(text.charCodeAt(i))) i++;
    } else if (c === 0x3b /* ; */) {
      out.push({ text: text.slice(start, i + 1), start });
      start = ++i;
    } else i++;
  }
  // Whatever follows the last `;` must be blank or comments; otherwise let the parser explain.
  if (skipTrivia(text, start) < n) out.push({ text: text.slice(start), start });
  return out;
}

/** Pieces per cedar-wasm call in assertSplitMatchesCedar: its splitter is superlinear, so chunks keep it fast. */
const VERIFY_CHUNK = 1000;

/**
 * Refuses a text where the reference parser finds a different number of policies than
 * splitPolicies: a splitter that disagrees with Cedar (say, on where a comment ends) could
 * otherwise drop a `forbid` silently. Run where a set is accepted (push, check), not on every
 * compile. Chunks start at splitter boundaries and each chunk's count must match, so a
 * boundary Cedar does not see as one fails the check too.
 */
export function assertSplitMatchesCedar(text: string, pieces = splitPolicies(text)): void {
  for (let k = 0; k === 0 || k < pieces.length; k += VERIFY_CHUNK) {
    const from = k === 0 ? 0 : pieces[k]!.start;
    const to = k + VERIFY_CHUNK < pieces.length ? pieces[k + VERIFY_CHUNK]!.start : text.length;
    const expected = Math.max(0, Math.min(VERIFY_CHUNK, pieces.length - k));
    const r = cedarWasm.policySetTextToParts(text.slice(from, to));
    const found = r.type === 'success' ? r.policies.length + r.policy_templates.length : undefined;
    if (found !== expected) {
      const cedarSays = r.type === 'failure' ? `Cedar cannot parse them: ${describeCedarErrors(r.errors)}` : `Cedar finds ${found}`;
      throw new WardenError(
        'WARDEN_POLICY_SPLIT_MISMATCH',
        `Warden splits the text into ${expected} policies from policy ${k} on, ${cedarSays}; refusing rather than enforcing a different set than Cedar would`,
      );
    }
  }
}

/** Leading blank lines and `//` comments belong to no policy: keep explanations tidy. */
function stripLeadingComments(text: string): string {
  const i = skipTrivia(text, 0);
  return i === 0 ? text : text.slice(i);
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
