/**
 * Cedar runtime values as the compiled evaluator represents them. Primitives stay JS
 * primitives (bool → boolean, Long → number, String → string) so the common
 * `context.region == "eu"` path allocates nothing; the rest are small classes.
 */
import { CedarDecimal, parseDecimal } from './decimal.js';
import { IpNet, parseIpNet } from './ipaddr.js';
import { CedarEvalError, NeedsReferenceEvaluator, UnsupportedConstruct } from './errors.js';
import { isCedarTypeName } from '../cedarText.js';

const LONE_SURROGATE = /\p{Cs}/u;

/** Cedar strings are Unicode text: half a UTF-16 pair is refused (cedar-wasm would throw on it). */
export function checkCedarString(s: string, where: string): string {
  if (LONE_SURROGATE.test(s)) throw new CedarEvalError(`${where}: not valid Unicode text (unpaired surrogate)`);
  return s;
}

/** An entity reference Cedar accepts: a valid type name (`Ns::Type`, no reserved word) and a text id. */
export function checkedUid(type: string, id: string, where: string): EntityUid {
  if (!isCedarTypeName(type)) throw new CedarEvalError(`${where}: ${JSON.stringify(type)} is not a Cedar entity type name`);
  return new EntityUid(type, checkCedarString(id, `${where}.id`));
}

export { CedarEvalError, NeedsReferenceEvaluator, UnsupportedConstruct };

export class EntityUid {
  /** Map key: a type never contains NUL, so `type\0id` is unambiguous and cheaper than JSON. */
  readonly key: string;
  constructor(
    readonly type: string,
    readonly id: string,
  ) {
    this.key = `${type}\u0000${id}`;
  }
  toString(): string {
    return `${this.type}::${JSON.stringify(this.id)}`;
  }
}

export class CedarSet {
  constructor(readonly items: readonly Value[]) {}
}

export class CedarRecord {
  constructor(readonly attrs: ReadonlyMap<string, Value>) {}
}

export type Value = boolean | number | string | EntityUid | CedarSet | CedarRecord | CedarDecimal | IpNet;

export const I64_MAX = 9223372036854775807n;
export const I64_MIN = -9223372036854775808n;

export function typeName(v: Value): string {
  switch (typeof v) {
    case 'boolean':
      return 'bool';
    case 'number':
      return 'long';
    case 'string':
      return 'string';
  }
  if (v instanceof EntityUid) return 'entity';
  if (v instanceof CedarSet) return 'set';
  if (v instanceof CedarRecord) return 'record';
  if (v instanceof CedarDecimal) return 'decimal';
  return 'ipaddr';
}

export function typeError(expected: string, got: Value): CedarEvalError {
  return new CedarEvalError(`type error: expected ${expected}, got ${typeName(got)}`);
}

/** Cedar `==`: structural, never an error; values of different types are unequal. */
export function valueEquals(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object') return false;
  if (a instanceof EntityUid) return b instanceof EntityUid && a.key === b.key;
  if (a instanceof CedarSet) {
    if (!(b instanceof CedarSet)) return false;
    return setContainsAll(a, b) && setContainsAll(b, a);
  }
  if (a instanceof CedarRecord) {
    if (!(b instanceof CedarRecord) || a.attrs.size !== b.attrs.size) return false;
    for (const [k, v] of a.attrs) {
      const w = b.attrs.get(k);
      if (w === undefined || !valueEquals(v, w)) return false;
    }
    return true;
  }
  if (a instanceof CedarDecimal) return b instanceof CedarDecimal && a.scaled === b.scaled;
  if (a instanceof IpNet) return b instanceof IpNet && a.v6 === b.v6 && a.addr === b.addr && a.prefix === b.prefix;
  return false;
}

export function setContains(s: CedarSet, v: Value): boolean {
  const items = s.items;
  for (let i = 0; i < items.length; i++) if (valueEquals(items[i]!, v)) return true;
  return false;
}

/** Every element of `sub` is in `sup`. */
export function setContainsAll(sup: CedarSet, sub: CedarSet): boolean {
  for (const v of sub.items) if (!setContains(sup, v)) return false;
  return true;
}

export function setContainsAny(a: CedarSet, b: CedarSet): boolean {
  for (const v of b.items) if (setContains(a, v)) return true;
  return false;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Converts Cedar's JSON value form (entity `__entity` and extension `__extn` escapes)
 * into a runtime value. Used for literals, entity attributes and the request context.
 */
export function valueFromJson(json: unknown, where: string): Value {
  switch (typeof json) {
    case 'boolean':
      return json;
    case 'string':
      return checkCedarString(json, where);
    case 'number':
      if (!Number.isInteger(json)) throw new CedarEvalError(`${where}: ${json} is not an integer (Cedar has no floats)`);
      if (!Number.isSafeInteger(json)) throw new NeedsReferenceEvaluator(`${where}: integer beyond 2^53`);
      return json;
    case 'bigint':
      if (json > I64_MAX || json < I64_MIN) throw new CedarEvalError(`${where}: integer out of range`);
      if (json <= BigInt(Number.MAX_SAFE_INTEGER) && json >= BigInt(Number.MIN_SAFE_INTEGER)) return Number(json);
      throw new NeedsReferenceEvaluator(`${where}: integer beyond 2^53`);
  }
  if (Array.isArray(json)) return new CedarSet(json.map((v, i) => valueFromJson(v, `${where}[${i}]`)));
  if (!isPlainObject(json)) throw new CedarEvalError(`${where}: null is not a Cedar value`);
  const keys = Object.keys(json);
  if (keys.length === 1 && keys[0] === '__entity') {
    const e = json.__entity;
    if (isPlainObject(e) && typeof e.type === 'string' && typeof e.id === 'string') return checkedUid(e.type, e.id, `${where}.__entity`);
    throw new CedarEvalError(`${where}: malformed __entity`);
  }
  // Cedar's JSON reserves `__expr` (a retired escape it refuses): not taken as a record attribute.
  if (keys.length === 1 && keys[0] === '__expr') throw new CedarEvalError(`${where}: __expr is not accepted (write the value as Cedar JSON)`);
  if (keys.length === 1 && keys[0] === '__extn') {
    const x = json.__extn;
    if (!isPlainObject(x) || typeof x.fn !== 'string') throw new CedarEvalError(`${where}: malformed __extn`);
    const arg = 'arg' in x ? x.arg : Array.isArray(x.args) && x.args.length === 1 ? x.args[0] : undefined;
    if (typeof arg !== 'string') throw new UnsupportedConstruct(`${where}: extension value ${x.fn} with non-string argument`);
    if (x.fn === 'decimal') return parseDecimal(arg);
    if (x.fn === 'ip') return parseIpNet(arg);
    throw new UnsupportedConstruct(`${where}: extension value ${x.fn}`);
  }
  const attrs = new Map<string, Value>();
  // `undefined` means absent, as in JSON (keeps cache keys built with JSON.stringify exact).
  for (const k of keys) if (json[k] !== undefined) attrs.set(k, valueFromJson(json[k], `${where}.${k}`));
  return new CedarRecord(attrs);
}

/** Converts back to Cedar JSON (for explanations and the reference evaluator). */
export function valueToJson(v: Value): unknown {
  if (typeof v !== 'object') return v;
  if (v instanceof EntityUid) return { __entity: { type: v.type, id: v.id } };
  if (v instanceof CedarSet) return v.items.map(valueToJson);
  if (v instanceof CedarRecord) return Object.fromEntries([...v.attrs].map(([k, x]) => [k, valueToJson(x)]));
  if (v instanceof CedarDecimal) return { __extn: { fn: 'decimal', arg: v.toString() } };
  return { __extn: { fn: 'ip', arg: v.toString() } };
}
