import { cedarStringLiteral } from './cedarText.js';
/**
 * Characters a reader cannot see or that reorder text (controls, zero-width and bidi format
 * characters, line separators), and lone surrogates (half a character, shown as U+FFFD and not
 * representable in Cedar text): refused in principal ids and model names, where they would make
 * two different names look the same in `keys list` and in policies.
 */
export const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

/** Cedar string literal of a name with no invisible characters (refused: they would hide in listings). */
export function cedarString(s: string): string {
  if (INVISIBLE.test(s)) throw new Error('invisible character in Cedar string');
  return cedarStringLiteral(s);
}

/**
 * A principal (`Type::"id"`) as a Cedar literal, or null when it is not one (bad escape, control
 * character). The grammar of `keys create --principal` and of `block-principal`. The literal is
 * canonical, and the same string gateways, audit records and detector alarms write for the
 * entity (`Type::` + the id as JSON): for the ids accepted here both escape only `\` and `"`.
 */
export function cedarEntity(text: string): string | null {
  const m = /^((?:[A-Za-z_][A-Za-z0-9_]*::)*[A-Za-z_][A-Za-z0-9_]*)::"((?:[^"\\]|\\.)*)"$/.exec(text);
  if (!m) return null;
  try {
    return `${m[1]}::${cedarString(JSON.parse(`"${m[2]}"`) as string)}`;
  } catch {
    return null;
  }
}
