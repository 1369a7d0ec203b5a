/**
 * Compiles Cedar's JSON expression form (as produced by cedar-wasm `policyToJson`) into
 * closures. Semantics follow the Cedar spec; every deviation is a bug caught by the
 * differential tests against cedar-wasm (test/policy/differential.*).
 */
import { CedarDecimal, parseDecimal } from './decimal.js';
import { CedarEvalError, NeedsReferenceEvaluator, UnsupportedConstruct } from './errors.js';
import { IpNet, isLoopback, isMulticast, parseIpNet } from './ipaddr.js';
import { compileLike, type PatternElem } from './like.js';
import type { RequestEntities } from './EntityStore.js';
import {
  CedarRecord,
  CedarSet,
  EntityUid,
  I64_MAX,
  I64_MIN,
  setContains,
  setContainsAll,
  setContainsAny,
  typeError,
  valueEquals,
  valueFromJson,
  type Value,
} from './values.js';

/** What a compiled expression reads: the request and the entities it can see. */
export interface Env {
  principal: EntityUid;
  action: EntityUid;
  resource: EntityUid;
  context: CedarRecord;
  entities: RequestEntities;
}

export type Compiled = (env: Env) => Value;

type Json = Record<string, unknown>;

const BINARY_OPS = new Set(['==', '!=', 'in', '<', '<=', '>', '>=', '&&', '||', '+', '-', '*', 'contains', 'containsAll', 'containsAny', 'getTag', 'hasTag']);
const BUILTIN_KEYS = new Set([...BINARY_OPS, 'Value', 'Var', 'Slot', 'Unknown', '!', 'neg', 'isEmpty', '.', 'has', 'like', 'is', 'if-then-else', 'Set', 'Record']);

function asBool(v: Value): boolean {
  if (typeof v !== 'boolean') throw typeError('bool', v);
  return v;
}
function asLong(v: Value): number {
  if (typeof v !== 'number') throw typeError('long', v);
  return v;
}
function asString(v: Value): string {
  if (typeof v !== 'string') throw typeError('string', v);
  return v;
}
function asEntity(v: Value): EntityUid {
  if (!(v instanceof EntityUid)) throw typeError('entity', v);
  return v;
}
function asSet(v: Value): CedarSet {
  if (!(v instanceof CedarSet)) throw typeError('set', v);
  return v;
}
function asDecimal(v: Value): CedarDecimal {
  if (!(v instanceof CedarDecimal)) throw typeError('decimal', v);
  return v;
}
function asIp(v: Value): IpNet {
  if (!(v instanceof IpNet)) throw typeError('ipaddr', v);
  return v;
}

/** i64 arithmetic: exact within 2^53, overflow is an error, anything in between goes to cedar-wasm. */
function checkedLong(result: number, exact: () => bigint, op: string): number {
  if (Number.isSafeInteger(result)) return result;
  const big = exact();
  if (big > I64_MAX || big < I64_MIN) throw new CedarEvalError(`integer overflow in ${op}`);
  throw new NeedsReferenceEvaluator(`${op} result beyond 2^53`);
}

function getAttr(env: Env, target: Value, attr: string): Value {
  if (target instanceof EntityUid) {
    const e = env.entities.get(target.key);
    if (!e) throw new CedarEvalError(`entity ${target.toString()} does not exist`);
    const v = e.attrs.attrs.get(attr);
    if (v === undefined) throw new CedarEvalError(`${target.toString()} does not have the attribute ${JSON.stringify(attr)}`);
    return v;
  }
  if (target instanceof CedarRecord) {
    const v = target.attrs.get(attr);
    if (v === undefined) throw new CedarEvalError(`record does not have the attribute ${JSON.stringify(attr)}`);
    return v;
  }
  throw typeError('entity or record', target);
}

function hasAttr(env: Env, target: Value, attr: string): boolean {
  if (target instanceof EntityUid) {
    const e = env.entities.get(target.key);
    return e !== undefined && e.attrs.attrs.has(attr);
  }
  if (target instanceof CedarRecord) return target.attrs.has(attr);
  throw typeError('entity or record', target);
}

/** `e in E` or `e in [E1, E2]`: every set element must be an entity, even after a match. */
function evalIn(env: Env, left: Value, right: Value): boolean {
  const l = asEntity(left);
  if (right instanceof EntityUid) return env.entities.isIn(l.key, right.key);
  if (right instanceof CedarSet) {
    const items = right.items;
    for (let i = 0; i < items.length; i++) if (!(items[i] instanceof EntityUid)) throw typeError('entity', items[i]!);
    for (let i = 0; i < items.length; i++) if (env.entities.isIn(l.key, (items[i] as EntityUid).key)) return true;
    return false;
  }
  throw typeError('set or entity', right);
}

function constant(v: Value): Compiled {
  return () => v;
}

/** Extension calls whose arguments are literals are evaluated once, at compile time. */
function compileExtension(name: string, args: Compiled[], literalArgs: (Value | undefined)[]): Compiled {
  const arity = (n: number): void => {
    if (args.length !== n) throw new UnsupportedConstruct(`${name} called with ${args.length} arguments`);
  };
  switch (name) {
    case 'decimal':
    case 'ip': {
      arity(1);
      const parse = name === 'decimal' ? parseDecimal : parseIpNet;
      const lit = literalArgs[0];
      if (typeof lit === 'string') {
        try {
          return constant(parse(lit));
        } catch (err) {
          return () => {
            throw err;
          };
        }
      }
      const a = args[0]!;
      return (env) => parse(asString(a(env)));
    }
    case 'lessThan':
    case 'lessThanOrEqual':
    case 'greaterThan':
    case 'greaterThanOrEqual': {
      arity(2);
      const [a, b] = args as [Compiled, Compiled];
      const cmp =
        name === 'lessThan'
          ? (x: bigint, y: bigint) => x < y
          : name === 'lessThanOrEqual'
            ? (x: bigint, y: bigint) => x <= y
            : name === 'greaterThan'
              ? (x: bigint, y: bigint) => x > y
              : (x: bigint, y: bigint) => x >= y;
      return (env) => {
        const x = a(env);
        const y = b(env);
        return cmp(asDecimal(x).scaled, asDecimal(y).scaled);
      };
    }
    case 'isIpv4':
    case 'isIpv6':
    case 'isLoopback':
    case 'isMulticast': {
      arity(1);
      const a = args[0]!;
      if (name === 'isIpv4') return (env) => !asIp(a(env)).v6;
      if (name === 'isIpv6') return (env) => asIp(a(env)).v6;
      if (name === 'isLoopback') return (env) => isLoopback(asIp(a(env)));
      return (env) => isMulticast(asIp(a(env)));
    }
    case 'isInRange': {
      arity(2);
      const [a, b] = args as [Compiled, Compiled];
      return (env) => {
        const x = a(env);
        const y = b(env);
        return asIp(x).inRange(asIp(y));
      };
    }
    default:
      // datetime/duration and future extensions: the set is evaluated by cedar-wasm.
      throw new UnsupportedConstruct(`extension function ${name}()`);
  }
}

export function compileExpr(expr: unknown): Compiled {
  return compile(expr).fn;
}

interface Node {
  fn: Compiled;
  /** Set when the expression is a literal value (enables constant folding). */
  literal?: Value;
}

function compile(expr: unknown): Node {
  if (typeof expr !== 'object' || expr === null) throw new UnsupportedConstruct('malformed expression');
  const keys = Object.keys(expr);
  if (keys.length !== 1) throw new UnsupportedConstruct('malformed expression');
  const op = keys[0]!;
  const body = (expr as Json)[op];

  if (!BUILTIN_KEYS.has(op)) {
    if (!Array.isArray(body)) throw new UnsupportedConstruct(`malformed call ${op}`);
    const nodes = body.map(compile);
    return { fn: compileExtension(op, nodes.map((n) => n.fn), nodes.map((n) => n.literal)) };
  }

  switch (op) {
    case 'Value': {
      const v = valueFromJson(body, 'literal');
      return { fn: constant(v), literal: v };
    }
    case 'Var':
      switch (body) {
        case 'principal':
          return { fn: (env) => env.principal };
        case 'action':
          return { fn: (env) => env.action };
        case 'resource':
          return { fn: (env) => env.resource };
        case 'context':
          return { fn: (env) => env.context };
      }
      throw new UnsupportedConstruct(`variable ${String(body)}`);
    case 'Slot':
      throw new UnsupportedConstruct('template slots');
    case 'Unknown':
      throw new UnsupportedConstruct('partial-evaluation unknowns');
    case '!': {
      const a = compile((body as Json).arg).fn;
      return { fn: (env) => !asBool(a(env)) };
    }
    case 'neg': {
      const a = compile((body as Json).arg).fn;
      return { fn: (env) => 0 - asLong(a(env)) };
    }
    case 'isEmpty': {
      const a = compile((body as Json).arg).fn;
      return { fn: (env) => asSet(a(env)).items.length === 0 };
    }
    case '.': {
      const b = body as { left: unknown; attr: string };
      const a = compile(b.left).fn;
      const attr = b.attr;
      // The hot path: `context.region` on a record.
      return {
        fn: (env) => {
          const t = a(env);
          if (t instanceof CedarRecord) {
            const v = t.attrs.get(attr);
            if (v !== undefined) return v;
          }
          return getAttr(env, t, attr);
        },
      };
    }
    case 'has': {
      const b = body as { left: unknown; attr: string | string[] };
      const a = compile(b.left).fn;
      const path = typeof b.attr === 'string' ? [b.attr] : b.attr;
      if (path.length === 1) {
        const attr = path[0]!;
        return { fn: (env) => hasAttr(env, a(env), attr) };
      }
      // `e has a.b` is `e has a && e.a has b`.
      return {
        fn: (env) => {
          let t = a(env);
          for (let i = 0; i < path.length; i++) {
            if (!hasAttr(env, t, path[i]!)) return false;
            if (i < path.length - 1) t = getAttr(env, t, path[i]!);
          }
          return true;
        },
      };
    }
    case 'like': {
      const b = body as { left: unknown; pattern: PatternElem[] };
      const a = compile(b.left).fn;
      const match = compileLike(b.pattern);
      return { fn: (env) => match(asString(a(env))) };
    }
    case 'is': {
      const b = body as { left: unknown; entity_type: string; in?: unknown };
      const a = compile(b.left).fn;
      const type = b.entity_type;
      if (b.in === undefined) return { fn: (env) => asEntity(a(env)).type === type };
      const inner = compile(b.in).fn;
      return {
        fn: (env) => {
          const l = asEntity(a(env));
          if (l.type !== type) return false;
          return evalIn(env, l, inner(env));
        },
      };
    }
    case 'if-then-else': {
      const b = body as { if: unknown; then: unknown; else: unknown };
      const c = compile(b.if).fn;
      const t = compile(b.then).fn;
      const e = compile(b.else).fn;
      return { fn: (env) => (asBool(c(env)) ? t(env) : e(env)) };
    }
    case 'Set': {
      const nodes = (body as unknown[]).map(compile);
      if (nodes.every((n) => n.literal !== undefined)) {
        const v = new CedarSet(nodes.map((n) => n.literal!));
        return { fn: constant(v), literal: v };
      }
      const fns = nodes.map((n) => n.fn);
      return { fn: (env) => new CedarSet(fns.map((f) => f(env))) };
    }
    case 'Record': {
      const entries = Object.entries(body as Json).map(([k, v]) => [k, compile(v)] as const);
      if (entries.every(([, n]) => n.literal !== undefined)) {
        const v = new CedarRecord(new Map(entries.map(([k, n]) => [k, n.literal!])));
        return { fn: constant(v), literal: v };
      }
      return { fn: (env) => new CedarRecord(new Map(entries.map(([k, n]) => [k, n.fn(env)]))) };
    }
  }
  return compileBinary(op, body as { left: unknown; right: unknown });
}

function compileBinary(op: string, body: { left: unknown; right: unknown }): Node {
  const l = compile(body.left);
  const r = compile(body.right);
  const a = l.fn;
  const b = r.fn;
  switch (op) {
    case '&&':
      return { fn: (env) => asBool(a(env)) && asBool(b(env)) };
    case '||':
      return { fn: (env) => asBool(a(env)) || asBool(b(env)) };
    case '==':
      if (typeof r.literal === 'string' || typeof r.literal === 'number' || typeof r.literal === 'boolean') {
        const lit = r.literal;
        return { fn: (env) => a(env) === lit };
      }
      return { fn: (env) => valueEquals(a(env), b(env)) };
    case '!=':
      return { fn: (env) => !valueEquals(a(env), b(env)) };
    case 'in':
      return { fn: (env) => evalIn(env, a(env), b(env)) };
    case '<':
      return { fn: (env) => { const x = a(env); const y = b(env); return asLong(x) < asLong(y); } };
    case '<=':
      return { fn: (env) => { const x = a(env); const y = b(env); return asLong(x) <= asLong(y); } };
    case '>':
      return { fn: (env) => { const x = a(env); const y = b(env); return asLong(x) > asLong(y); } };
    case '>=':
      return { fn: (env) => { const x = a(env); const y = b(env); return asLong(x) >= asLong(y); } };
    case '+':
      return { fn: (env) => { const x = asLong(a(env)); const y = asLong(b(env)); return checkedLong(x + y, () => BigInt(x) + BigInt(y), 'addition'); } };
    case '-':
      return { fn: (env) => { const x = asLong(a(env)); const y = asLong(b(env)); return checkedLong(x - y, () => BigInt(x) - BigInt(y), 'subtraction'); } };
    case '*':
      return { fn: (env) => { const x = asLong(a(env)); const y = asLong(b(env)); return checkedLong(x * y, () => BigInt(x) * BigInt(y), 'multiplication') || 0; } };
    case 'contains':
      return { fn: (env) => { const s = a(env); const v = b(env); return setContains(asSet(s), v); } };
    case 'containsAll':
      return { fn: (env) => { const s = a(env); const t = b(env); return setContainsAll(asSet(s), asSet(t)); } };
    case 'containsAny':
      return { fn: (env) => { const s = a(env); const t = b(env); return setContainsAny(asSet(s), asSet(t)); } };
    case 'hasTag':
      return {
        fn: (env) => {
          const e = asEntity(a(env));
          const tag = asString(b(env));
          return env.entities.get(e.key)?.tags?.attrs.has(tag) ?? false;
        },
      };
    case 'getTag':
      return {
        fn: (env) => {
          const e = asEntity(a(env));
          const tag = asString(b(env));
          const stored = env.entities.get(e.key);
          if (!stored) throw new CedarEvalError(`entity ${e.toString()} does not exist`);
          const v = stored.tags?.attrs.get(tag);
          if (v === undefined) throw new CedarEvalError(`${e.toString()} does not have the tag ${JSON.stringify(tag)}`);
          return v;
        },
      };
  }
  throw new UnsupportedConstruct(`operator ${op}`);
}
