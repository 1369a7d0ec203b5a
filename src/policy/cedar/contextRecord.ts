import { CedarEvalError, NeedsReferenceEvaluator } from './errors.js';
import { CedarRecord, checkCedarString, I64_MAX, I64_MIN, valueFromJson, type Value } from './values.js';
import { parseDecimal } from './decimal.js';
import { parseIpNet } from './ipaddr.js';

/**
 * The request context as a Cedar record that converts attributes on first access: policies
 * read a few attributes, so the hot path allocates no Map for the rest. Validation stays
 * eager and complete (Cedar rejects a malformed context as a whole, read or not).
 */
class JsonAttrs implements ReadonlyMap<string, Value> {
  private converted: Map<string, Value> | undefined;

  constructor(
    private readonly raw: Record<string, unknown>,
    readonly size: number,
  ) {}

  get(key: string): Value | undefined {
    if (!Object.hasOwn(this.raw, key)) return undefined;
    const v = this.raw[key];
    switch (typeof v) {
      case 'string':
      case 'boolean':
      case 'number':
        return v;
      case 'undefined':
        return undefined;
    }
    let c = this.converted?.get(key);
    if (c === undefined) {
      c = valueFromJson(v, `context.${key}`);
      (this.converted ??= new Map()).set(key, c);
    }
    return c;
  }

  has(key: string): boolean {
    return Object.hasOwn(this.raw, key) && this.raw[key] !== undefined;
  }

  private all(): Map<string, Value> {
    const m = new Map<string, Value>();
    for (const k of Object.keys(this.raw)) {
      const v = this.get(k);
      if (v !== undefined) m.set(k, v);
    }
    return m;
  }

  forEach(fn: (value: Value, key: string, map: ReadonlyMap<string, Value>) => void): void {
    this.all().forEach((v, k) => fn(v, k, this));
  }
  entries(): MapIterator<[string, Value]> {
    return this.all().entries();
  }
  keys(): MapIterator<string> {
    return this.all().keys();
  }
  values(): MapIterator<Value> {
    return this.all().values();
  }
  [Symbol.iterator](): MapIterator<[string, Value]> {
    return this.all().entries();
  }
}

/** Checks a JSON value is a valid Cedar value without building it (same rules as valueFromJson). */
function validate(v: unknown, where: string): void {
  switch (typeof v) {
    case 'string':
      return void checkCedarString(v, where);
    case 'boolean':
      return;
    case 'number':
      if (!Number.isInteger(v)) throw new CedarEvalError(`${where}: ${v} is not an integer (Cedar has no floats)`);
      if (!Number.isSafeInteger(v)) throw new NeedsReferenceEvaluator(`${where}: integer beyond 2^53`);
      return;
    case 'bigint':
      if (v > I64_MAX || v < I64_MIN) throw new CedarEvalError(`${where}: integer out of range`);
      throw new NeedsReferenceEvaluator(`${where}: bigint`);
  }
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) validate(v[i], where);
    return;
  }
  if (typeof v !== 'object' || v === null) throw new CedarEvalError(`${where}: null is not a Cedar value`);
  const o = v as Record<string, unknown>;
  if (Object.hasOwn(o, '__extn')) {
    const x = o.__extn as { fn?: unknown; arg?: unknown } | null;
    if (x && typeof x === 'object' && typeof x.arg === 'string' && Object.keys(o).length === 1) {
      if (x.fn === 'ip') return void parseIpNet(x.arg);
      if (x.fn === 'decimal') return void parseDecimal(x.arg);
    }
    valueFromJson(v, where); // uncommon shapes: the full converter decides (and explains)
    return;
  }
  if (Object.hasOwn(o, '__entity') || Object.hasOwn(o, '__expr')) {
    valueFromJson(v, where);
    return;
  }
  for (const k in o) if (Object.hasOwn(o, k) && o[k] !== undefined) validate(o[k], `${where}.${k}`);
}

export function contextRecord(context: unknown): CedarRecord {
  if (typeof context !== 'object' || context === null || Array.isArray(context)) throw new CedarEvalError('context must be a record');
  const raw = context as Record<string, unknown>;
  if (Object.hasOwn(raw, '__entity') || Object.hasOwn(raw, '__extn') || Object.hasOwn(raw, '__expr')) {
    const v = valueFromJson(raw, 'context');
    if (!(v instanceof CedarRecord)) throw new CedarEvalError('context must be a record');
    return v;
  }
  let size = 0;
  for (const k in raw) {
    if (!Object.hasOwn(raw, k) || raw[k] === undefined) continue;
    validate(raw[k], `context.${k}`);
    size++;
  }
  return new CedarRecord(new JsonAttrs(raw, size));
}
