import { WardenError } from '../../errors/index.js';
import type { EntityRef } from '../../policy/index.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const VERSION = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;

export function checkName(name: string): string {
  if (!NAME.test(name)) throw new WardenError('WARDEN_INPUT_INVALID', 'artifact names are 1-128 characters [A-Za-z0-9._-] starting with a letter or digit');
  return name;
}

export function checkVersion(version: string): string {
  if (!VERSION.test(version)) throw new WardenError('WARDEN_INPUT_INVALID', 'versions are 1-64 characters [A-Za-z0-9._+-] starting with a letter or digit');
  return version;
}

/** "name@version" → parts (version optional). */
export function parseRef(ref: string): { name: string; version?: string } {
  const at = ref.lastIndexOf('@');
  if (at <= 0) return { name: checkName(ref) };
  return { name: checkName(ref.slice(0, at)), version: checkVersion(ref.slice(at + 1)) };
}

/** Cedar-style principal `Type::"id"` → EntityRef. */
export function parseEntity(text: string): EntityRef {
  const m = /^([A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*)::"((?:[^"\\]|\\.){1,256})"$/.exec(text);
  if (!m) throw new WardenError('WARDEN_INPUT_INVALID', 'principals look like User::"alice" or Service::"ci"');
  return { type: m[1]!, id: JSON.parse(`"${m[2]!}"`) as string };
}
