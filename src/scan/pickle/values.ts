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
}

export class Opaque {
  constructor(readonly what: string) {}
}

export const UNKNOWN = new Opaque('unknown');
export const LONG_VALUE = new Opaque('long string or bytes');

export type PickleValue = null | boolean | number | bigint | string | PickleBytes | PickleValue[] | PickleDict | GlobalRef | CallResult | Opaque;

/** Containers keep at most this many items: enough to read shapes and small tuples. */
export const MAX_TRACKED_ITEMS = 64;

export function dictGet(d: PickleValue, key: string): PickleValue | undefined {
  if (!(d instanceof PickleDict)) return undefined;
  for (const [k, v] of d.items) if (k === key) return v;
  return undefined;
}
