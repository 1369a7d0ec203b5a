/**
 * What the simulated pickle VM keeps on its stack. Only what decides a verdict is modelled:
 * short strings (module/attribute names built on the stack), numbers (shapes, magic numbers),
 * containers (shallow), imported globals and the results of calls. Everything else is Opaque.
 */
export class GlobalRef {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
}

export class CallResult {
  /** A dunder attribute name set on the result as a mapping key (SETITEM on an OrderedDict...). */
  dunderKey: string | undefined;
  constructor(
    readonly callee: PickleValue,
    readonly args: PickleValue,
    public state: PickleValue = null,
  ) {}
}

export class PickleBytes {
  constructor(readonly latin1: string) {}
}

export class PickleDict {
  readonly items: [PickleValue, PickleValue][] = [];
  /** Items were dropped past MAX_TRACKED_ITEMS: a lookup may miss a later duplicate key. */
  truncated = false;
  /** First dunder-named string key, seen even past the tracking cap (BUILD state would set it as an attribute). */
  dunderKey: string | undefined;
}

export class Opaque {
  constructor(readonly what: string) {}
}

export const UNKNOWN = new Opaque('unknown');
export const LONG_VALUE = new Opaque('long string or bytes');

export type PickleValue = null | boolean | number | bigint | string | PickleBytes | PickleValue[] | PickleDict | GlobalRef | CallResult | Opaque;

/** Containers keep at most this many items: enough to read shapes and small tuples. */
export const MAX_TRACKED_ITEMS = 64;

/** Python keeps the last value of a repeated key, so the last match wins here too. */
export function dictGet(d: PickleValue, key: string): PickleValue | undefined {
  if (!(d instanceof PickleDict)) return undefined;
  for (let i = d.items.length - 1; i >= 0; i--) if (d.items[i]![0] === key) return d.items[i]![1];
  return undefined;
}

export function isDunderName(k: PickleValue): k is string {
  return typeof k === 'string' && /^__.+__$/.test(k);
}

/** SETITEM(S)/DICT: keeps the first MAX_TRACKED_ITEMS items, but notes dunder keys among all of them. */
export function addItem(target: PickleValue, k: PickleValue, v: PickleValue): void {
  if (target instanceof PickleDict) {
    if (target.dunderKey === undefined && isDunderName(k)) target.dunderKey = k;
    if (target.items.length < MAX_TRACKED_ITEMS) target.items.push([k, v]);
    else target.truncated = true;
  } else if (target instanceof CallResult) {
    // A mapping built by a call (OrderedDict(), a dict subclass) can be a BUILD state too.
    if (target.dunderKey === undefined && isDunderName(k)) target.dunderKey = k;
  }
}
