import type { EntityRef } from './Authorizer.js';

/** Thrown when a value has no Cedar text form (a lone UTF-16 surrogate, a reserved word as a type name). */
export class NotExpressibleInCedar extends Error {}

const LONE_SURROGATE = /\p{Cs}/u;
/** Identifiers Cedar does not accept as (part of) an entity type name. */
const RESERVED = new Set(['true', 'false', 'if', 'then', 'else', 'in', 'is', 'like', 'has', '__cedar']);
const TYPE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*$/;

/**
 * `s` as a Cedar string literal. Cedar's escapes are not JSON's: a control character is
 * `\u{1}`, never `\u0001` (which Cedar refuses), so JSON.stringify cannot be used here.
 */
export function cedarStringLiteral(s: string): string {
  if (LONE_SURROGATE.test(s)) throw new NotExpressibleInCedar('a string with a lone UTF-16 surrogate has no Cedar form');
  // eslint-disable-next-line no-control-regex
  return `"${s.replace(/[\\"\u0000-\u001f\u007f]/g, (c) => (c === '\\' || c === '"' ? `\\${c}` : `\\u{${c.charCodeAt(0).toString(16)}}`))}"`;
}

/** Whether `type` is an entity type name Cedar accepts (`Ns::Type`, no reserved words). */
export function isCedarTypeName(type: string): boolean {
  if (knownTypeNames.has(type)) return true;
  const ok = TYPE_NAME.test(type) && type.split('::').every((part) => !RESERVED.has(part));
  // Checked per request (principal, action, resource): the handful of real type names are remembered.
  if (ok && knownTypeNames.size < 1024) knownTypeNames.add(type);
  return ok;
}
const knownTypeNames = new Set<string>();

/** `Type::"id"` in Cedar syntax; throws NotExpressibleInCedar when Cedar has no way to write it. */
export function cedarEntityLiteral(e: EntityRef): string {
  if (!isCedarTypeName(e.type)) throw new NotExpressibleInCedar(`${JSON.stringify(e.type)} is not a Cedar entity type name`);
  return `${e.type}::${cedarStringLiteral(e.id)}`;
}
