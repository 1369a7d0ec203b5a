import { compileExpr, type Env } from './compileExpr.js';
import { uidFromJson } from './EntityStore.js';
import { CedarEvalError, NeedsReferenceEvaluator, UnsupportedConstruct } from './errors.js';
import type { EntityUid, Value } from './values.js';

/** Where a policy sits in the scope index of one request variable. */
export type ScopeKey = { kind: 'all' } | { kind: 'entity'; keys: string[] } | { kind: 'type'; type: string };

export interface CompiledPolicy {
  readonly id: string;
  readonly index: number;
  readonly effect: 'permit' | 'forbid';
  readonly principalKey: ScopeKey;
  readonly actionKey: ScopeKey;
  readonly resourceKey: ScopeKey;
  /** Scope test (never raises: scopes only compare entities). */
  readonly matchesScope: (env: Env) => boolean;
  /** The when/unless clauses in order; raises CedarEvalError on evaluation errors. */
  readonly conditions: (env: Env) => boolean;
  /** Request epoch in which the candidate scan last visited this policy (dedup without allocation). */
  seen: number;
}

type Constraint = { op: string; entity?: unknown; entities?: unknown[]; entity_type?: string; in?: { entity?: unknown; slot?: string }; slot?: string };

function compileScope(c: Constraint, variable: 'principal' | 'action' | 'resource'): { key: ScopeKey; test: (env: Env) => boolean } {
  const get = (env: Env): EntityUid => env[variable];
  if (c.slot !== undefined || c.in?.slot !== undefined) throw new UnsupportedConstruct('template slots');
  switch (c.op) {
    case 'All':
      return { key: { kind: 'all' }, test: () => true };
    case '==': {
      const e = uidFromJson(c.entity, `${variable} scope`);
      return { key: { kind: 'entity', keys: [e.key] }, test: (env) => get(env).key === e.key };
    }
    case 'in': {
      if (c.entities !== undefined) {
        const es = c.entities.map((x) => uidFromJson(x, `${variable} scope`).key);
        return {
          key: { kind: 'entity', keys: es },
          test: (env) => {
            const k = get(env).key;
            for (const e of es) if (env.entities.isIn(k, e)) return true;
            return false;
          },
        };
      }
      const e = uidFromJson(c.entity, `${variable} scope`).key;
      return { key: { kind: 'entity', keys: [e] }, test: (env) => env.entities.isIn(get(env).key, e) };
    }
    case 'is': {
      const type = c.entity_type!;
      if (c.in === undefined) return { key: { kind: 'type', type }, test: (env) => get(env).type === type };
      const e = uidFromJson(c.in.entity, `${variable} scope`).key;
      return { key: { kind: 'entity', keys: [e] }, test: (env) => get(env).type === type && env.entities.isIn(get(env).key, e) };
    }
  }
  throw new UnsupportedConstruct(`${variable} scope operator ${c.op}`);
}

interface PolicyJsonLike {
  effect: 'permit' | 'forbid';
  principal: unknown;
  action: unknown;
  resource: unknown;
  conditions: { kind: 'when' | 'unless'; body: unknown }[];
}

function asBoolCondition(v: Value): boolean {
  if (typeof v !== 'boolean') throw new CedarEvalError(`type error: condition must be bool, got ${typeof v === 'number' ? 'long' : typeof v}`);
  return v;
}

export function compilePolicy(id: string, index: number, json: PolicyJsonLike): CompiledPolicy {
  try {
    const p = compileScope(json.principal as Constraint, 'principal');
    const a = compileScope(json.action as Constraint, 'action');
    const r = compileScope(json.resource as Constraint, 'resource');
    const clauses = json.conditions.map((c) => ({ unless: c.kind === 'unless', fn: compileExpr(c.body) }));
    const pt = p.test;
    const at = a.test;
    const rt = r.test;
    let conditions: (env: Env) => boolean;
    if (clauses.length === 0) conditions = () => true;
    else if (clauses.length === 1) {
      const { unless, fn } = clauses[0]!;
      conditions = unless ? (env) => !asBoolCondition(fn(env)) : (env) => asBoolCondition(fn(env));
    } else {
      conditions = (env) => {
        for (const c of clauses) if (asBoolCondition(c.fn(env)) === c.unless) return false;
        return true;
      };
    }
    return {
      id,
      index,
      effect: json.effect,
      principalKey: p.key,
      actionKey: a.key,
      resourceKey: r.key,
      matchesScope: (env) => pt(env) && at(env) && rt(env),
      conditions,
      seen: -1,
    };
  } catch (err) {
    if (err instanceof NeedsReferenceEvaluator || err instanceof CedarEvalError) throw new UnsupportedConstruct(`policy ${id}: ${err.message}`);
    if (err instanceof UnsupportedConstruct) throw new UnsupportedConstruct(`policy ${id}: ${err.message}`);
    throw err;
  }
}
