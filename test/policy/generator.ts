/**
 * Random policy sets, entity graphs and requests over the Warden schema, for differential
 * testing of the compiled evaluator against cedar-wasm. Deterministic for a given seed.
 * Expressions are mostly well-typed but deliberately include ill-typed terms, missing
 * attributes, unknown entities, overflowing arithmetic and malformed extension literals, so
 * the error paths (policy skipped and reported) are exercised as much as the happy ones.
 */
import type { AuthzRequest, CedarEntityJson, EntityRef } from '../../src/policy/index.js';

export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  /** mulberry32 */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

const lit = (e: EntityRef): string => `${e.type}::${JSON.stringify(e.id)}`;
const ref = (type: string, id: string): EntityRef => ({ type, id });

const USERS = ['alice', 'bob', 'carol'].map((id) => ref('User', id));
const GROUPS = ['admins', 'ml-eng', 'analysts', 'contractors'].map((id) => ref('Group', id));
const TENANTS = ['acme', 'globex'].map((id) => ref('Tenant', id));
const KEYS = ['demo', 'ci'].map((id) => ref('ApiKey', id));
const SERVICES = ['spiffe://warden.local/ns/prod/sa/api', 'spiffe://warden.local/ns/dev/sa/etl'].map((id) => ref('Service', id));
const MODELS = ['iris', 'echo', 'llama'].map((id) => ref('Model', id));
const VERSIONS = ['iris@1', 'iris@2', 'llama@7'].map((id) => ref('ModelVersion', id));
const DATASETS = ['claims', 'images'].map((id) => ref('Dataset', id));
const FEATURES = ['age', 'income'].map((id) => ref('Feature', id));
const ENVS = ['prod', 'staging'].map((id) => ref('Environment', id));
/** Referenced by policies and requests but never defined: `.attr` on them is an error. */
const GHOSTS = [ref('User', 'ghost'), ref('Model', 'unknown'), ref('Group', 'nobody')];
export const ACTIONS = ['invoke', 'connect', 'readFeature', 'readDataset', 'writeDataset', 'registerModel', 'deployModel', 'admin::keys', 'admin::policies'].map((id) =>
  ref('Action', id),
);
const ACTION_GROUPS = ['read', 'write', 'admin'].map((id) => ref('Action', id));
const PRINCIPALS = [...USERS, ...KEYS, ...SERVICES, GHOSTS[0]!];
const RESOURCES = [...MODELS, ...VERSIONS, ...DATASETS, ...FEATURES, GHOSTS[1]!];
const ALL_ENTITIES = [...PRINCIPALS, ...RESOURCES, ...GROUPS, ...TENANTS, ...ENVS, ...ACTIONS, GHOSTS[2]!];
const TYPES = ['User', 'Group', 'ApiKey', 'Service', 'Model', 'ModelVersion', 'Dataset', 'Feature', 'Tenant', 'Environment', 'Action'];

const REGIONS = ['eu-west-1', 'us-east-1', 'ap-south-1', 'eu-central-1', ''];
const CLASSES = ['public', 'internal', 'confidential', 'restricted'];
const IPS = ['10.1.2.3', '192.168.0.10', '127.0.0.1', '::1', '2001:db8::1', 'ff02::1', '224.0.0.5', '10.0.0.0/8', '0.0.0.0/0', 'fe80::1/64', '::', '1.2.3.4/32'];
const BAD_IPS = ['01.2.3.4', '1.2.3.4/33', '::ffff:1.2.3.4', 'not-an-ip', '1.2.3', '1::2::3', '10.0.0.0/08', ''];
const DECIMALS = ['1.0', '0.5', '-2.25', '3.1415', '100.0001', '-0.0001', '922337203685477.5807', '01.50'];
const BAD_DECIMALS = ['1', '1.23456', '+1.0', '.5', 'abc', '922337203685477.5808', '1.'];
const ATTRS = ['department', 'level', 'owner', 'classification', 'regions', 'maxTokens', 'active', 'tags', 'meta', 'region', 'mfa', 'sourceIp', 'time', 'nested'];
const STRINGS = ['eu-west-1', 'us-east-1', 'public', 'restricted', 'confidential', 'ml', 'finance', 'a*b', 'iris', '', 'é*', 'x\\y'];

function randomLong(rng: Rng): number {
  switch (rng.int(6)) {
    case 0:
      return rng.int(5);
    case 1:
      return -rng.int(100);
    case 2:
      return rng.int(1000);
    case 3:
      return 2 ** 40 + rng.int(1000); // products overflow i64
    case 4:
      return 2 ** 31 + rng.int(1000); // products land in (2^53, 2^63): exact path via cedar-wasm
    default:
      return 1_700_000_000 + rng.int(100_000);
  }
}

function strLit(s: string): string {
  return JSON.stringify(s);
}

function likePattern(rng: Rng): string {
  const parts: string[] = [];
  const n = 1 + rng.int(3);
  for (let i = 0; i < n; i++) {
    const r = rng.int(5);
    if (r === 0) parts.push('*');
    else if (r === 1) parts.push('\\*');
    else parts.push(rng.pick(['eu', 'us', '-', 'west', '1', 'res', 'i', 'a', 'é']));
  }
  return `"${parts.join('')}"`;
}

type Ty = 'bool' | 'long' | 'string' | 'entity' | 'set' | 'record' | 'decimal' | 'ip' | 'any';

export class ExprGen {
  constructor(private readonly rng: Rng) {}

  gen(ty: Ty, depth: number): string {
    const r = this.rng;
    // Occasionally an ill-typed term: exercises type errors.
    if (ty !== 'any' && r.chance(0.04)) return this.gen('any', depth);
    if (ty === 'any') ty = r.pick(['bool', 'long', 'string', 'entity', 'set', 'record', 'decimal', 'ip'] as const);
    const leaf = depth <= 0 || r.chance(0.3);
    switch (ty) {
      case 'bool':
        return leaf ? this.boolLeaf() : this.boolNode(depth - 1);
      case 'long':
        return leaf ? this.longLeaf() : this.longNode(depth - 1);
      case 'string':
        return leaf ? this.stringLeaf() : `(if ${this.gen('bool', depth - 1)} then ${this.gen('string', 0)} else ${this.gen('string', 0)})`;
      case 'entity':
        return this.entityTerm(depth);
      case 'set':
        return this.setTerm(depth);
      case 'record':
        return r.pick([
          'context',
          'context.nested',
          `{region: ${this.gen('string', 0)}, level: ${this.gen('long', 0)}}`,
          `{a: ${this.gen('any', 0)}}`,
          'principal.meta',
          '{}',
        ]);
      case 'decimal':
        return r.chance(0.85) ? `decimal(${strLit(r.chance(0.85) ? r.pick(DECIMALS) : r.pick(BAD_DECIMALS))})` : `decimal(${this.gen('string', 0)})`;
      case 'ip':
        return r.chance(0.7) ? `ip(${strLit(r.chance(0.85) ? r.pick(IPS) : r.pick(BAD_IPS))})` : 'ip(context.sourceIp)';
    }
    return 'true';
  }

  private attrAccess(): string {
    const r = this.rng;
    const target = r.pick(['principal', 'resource', 'context', 'context.nested', 'principal.meta', 'resource.owner', 'action']);
    return `${target}.${r.pick(ATTRS)}`;
  }

  private boolLeaf(): string {
    const r = this.rng;
    return r.pick(['true', 'false', 'context.mfa', 'principal.active', 'resource.active', `${this.attrAccess()}`, `(context has ${r.pick(ATTRS)})`]);
  }

  private boolNode(d: number): string {
    const r = this.rng;
    switch (r.int(22)) {
      case 0:
        return `(${this.gen('bool', d)} && ${this.gen('bool', d)})`;
      case 1:
        return `(${this.gen('bool', d)} || ${this.gen('bool', d)})`;
      case 2:
        return `(!${this.gen('bool', d)})`;
      case 3: {
        const t = r.pick(['long', 'string', 'entity', 'set', 'record', 'decimal', 'ip', 'bool'] as const);
        return `(${this.gen(t, d)} ${r.pick(['==', '!='])} ${this.gen(r.chance(0.8) ? t : 'any', d)})`;
      }
      case 4:
        return `(${this.gen('long', d)} ${r.pick(['<', '<=', '>', '>='])} ${this.gen('long', d)})`;
      case 5:
        return `(${this.gen('entity', d)} in ${this.gen('entity', d)})`;
      case 6:
        return `(${this.gen('entity', d)} in ${this.entitySet(d)})`;
      case 7:
        return `(${this.gen(r.pick(['entity', 'record'] as const), d)} has ${r.pick(ATTRS)})`;
      case 8:
        return `(${this.gen('entity', d)} has ${r.pick(ATTRS)}.${r.pick(ATTRS)})`;
      case 9:
        return `(${this.gen('string', d)} like ${likePattern(r)})`;
      case 10:
        return `${this.gen('set', d)}.contains(${this.gen('any', d)})`;
      case 11:
        return `${this.gen('set', d)}.${r.pick(['containsAll', 'containsAny'])}(${this.gen('set', d)})`;
      case 12:
        return `${this.gen('set', d)}.isEmpty()`;
      case 13:
        return `(${this.gen('entity', d)} is ${r.pick(TYPES)})`;
      case 14:
        return `(${this.gen('entity', d)} is ${r.pick(TYPES)} in ${r.chance(0.5) ? this.gen('entity', d) : this.entitySet(d)})`;
      case 15:
        return `(if ${this.gen('bool', d)} then ${this.gen('bool', d)} else ${this.gen('bool', d)})`;
      case 16:
        return `${this.gen('decimal', d)}.${r.pick(['lessThan', 'lessThanOrEqual', 'greaterThan', 'greaterThanOrEqual'])}(${this.gen('decimal', d)})`;
      case 17:
        return `${this.gen('ip', d)}.${r.pick(['isIpv4', 'isIpv6', 'isLoopback', 'isMulticast'])}()`;
      case 18:
        return `${this.gen('ip', d)}.isInRange(${this.gen('ip', d)})`;
      case 19:
        return `(context.region == ${strLit(r.pick(REGIONS))})`;
      case 20:
        return `(context.classification ${r.pick(['==', '!='])} ${strLit(r.pick(CLASSES))})`;
      default:
        return `(principal in ${lit(r.pick(GROUPS))})`;
    }
  }

  private longLeaf(): string {
    const r = this.rng;
    return r.pick([String(randomLong(r)), String(randomLong(r)), 'context.time', 'principal.level', 'resource.maxTokens', 'context.nested.level']);
  }

  private longNode(d: number): string {
    const r = this.rng;
    switch (r.int(5)) {
      case 0:
        return `(${this.gen('long', d)} + ${this.gen('long', d)})`;
      case 1:
        return `(${this.gen('long', d)} - ${this.gen('long', d)})`;
      case 2:
        return `(${this.gen('long', d)} * ${this.gen('long', d)})`;
      case 3:
        return `(-${this.gen('long', d)})`;
      default:
        return `(if ${this.gen('bool', d)} then ${this.gen('long', d)} else ${this.gen('long', d)})`;
    }
  }

  private stringLeaf(): string {
    const r = this.rng;
    return r.pick([strLit(r.pick(STRINGS)), 'context.region', 'context.classification', 'resource.classification', 'principal.department', 'context.sourceIp']);
  }

  private entityTerm(depth: number): string {
    const r = this.rng;
    const choice = r.int(8);
    if (choice === 0 && depth > 0) return `(if ${this.gen('bool', depth - 1)} then principal else resource)`;
    if (choice === 1) return 'resource.owner';
    if (choice === 2) return lit(r.pick(ALL_ENTITIES));
    return r.pick(['principal', 'resource', 'action', 'principal', 'resource']);
  }

  private entitySet(d: number): string {
    const r = this.rng;
    const n = r.int(3);
    const items = Array.from({ length: n }, () => (r.chance(0.9) ? this.gen('entity', d) : this.gen('any', 0)));
    return `[${items.join(', ')}]`;
  }

  private setTerm(depth: number): string {
    const r = this.rng;
    switch (r.int(6)) {
      case 0:
        return 'context.tags';
      case 1:
        return 'resource.regions';
      case 2:
        return 'principal.tags';
      case 3:
        return this.entitySet(depth - 1);
      default: {
        const t = r.pick(['long', 'string', 'any'] as const);
        const n = r.int(4);
        return `[${Array.from({ length: n }, () => this.gen(t, Math.max(0, depth - 1))).join(', ')}]`;
      }
    }
  }
}

function scope(rng: Rng, variable: 'principal' | 'resource'): string {
  const pool = variable === 'principal' ? PRINCIPALS : RESOURCES;
  const groups = variable === 'principal' ? [...GROUPS, ...TENANTS] : [...MODELS, ...TENANTS, ...ENVS];
  const types = variable === 'principal' ? ['User', 'ApiKey', 'Service'] : ['Model', 'ModelVersion', 'Dataset', 'Feature'];
  switch (rng.int(7)) {
    case 0:
    case 6:
      return variable;
    case 1:
      return `${variable} == ${lit(rng.pick(pool))}`;
    case 2:
      return `${variable} in ${lit(rng.pick(groups))}`;
    case 3:
      return `${variable} is ${rng.pick(types)}`;
    case 4:
      return `${variable} is ${rng.pick(types)} in ${lit(rng.pick(groups))}`;
    default:
      return `${variable} in ${lit(rng.pick(pool))}`;
  }
}

function actionScope(rng: Rng): string {
  switch (rng.int(4)) {
    case 0:
      return 'action';
    case 1:
      return `action == ${lit(rng.pick(ACTIONS))}`;
    case 2:
      return `action in ${lit(rng.pick([...ACTION_GROUPS, ...ACTIONS]))}`;
    default: {
      const n = 1 + rng.int(3);
      return `action in [${Array.from({ length: n }, () => lit(rng.pick([...ACTIONS, ...ACTION_GROUPS]))).join(', ')}]`;
    }
  }
}

export function generatePolicySet(rng: Rng, count = 1 + rng.int(6)): string {
  const g = new ExprGen(rng);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const effect = rng.chance(0.75) ? 'permit' : 'forbid';
    const annotation = rng.chance(0.3) ? `@id("p-${i}-${rng.int(1000)}") ` : '';
    const conds: string[] = [];
    const nc = rng.int(3);
    for (let c = 0; c < nc; c++) conds.push(` ${rng.chance(0.75) ? 'when' : 'unless'} { ${g.gen('bool', 1 + rng.int(3))} }`);
    out.push(`${annotation}${effect}(${scope(rng, 'principal')}, ${actionScope(rng)}, ${scope(rng, 'resource')})${conds.join('')};`);
  }
  return out.join('\n');
}

function attrValue(rng: Rng, name: string): unknown {
  switch (name) {
    case 'department':
      return rng.pick(['ml', 'finance', 'ops']);
    case 'level':
    case 'maxTokens':
      return rng.chance(0.9) ? randomLong(rng) : 'high';
    case 'owner':
      return { __entity: rng.pick([...USERS, GHOSTS[0]!]) };
    case 'classification':
      return rng.pick(CLASSES);
    case 'regions':
    case 'tags':
      return Array.from({ length: rng.int(3) }, () => rng.pick([...REGIONS, 'ml', 'pii']));
    case 'active':
      return rng.chance(0.7);
    case 'meta':
      return { region: rng.pick(REGIONS), level: rng.int(5) };
    case 'ip':
      return { __extn: { fn: 'ip', arg: rng.pick(IPS) } };
    case 'limit':
      return { __extn: { fn: 'decimal', arg: rng.pick(DECIMALS.slice(0, 6)) } };
  }
  return null;
}

/** An entity graph (a DAG: parents only point to earlier tiers) with random attributes. */
export function generateEntities(rng: Rng): CedarEntityJson[] {
  const out: CedarEntityJson[] = [];
  const attrsFor = (names: string[]): Record<string, unknown> => {
    const a: Record<string, unknown> = {};
    for (const n of names) if (rng.chance(0.7)) a[n] = attrValue(rng, n);
    return a;
  };
  const someOf = (xs: EntityRef[], p: number): EntityRef[] => xs.filter(() => rng.chance(p));
  for (const t of TENANTS) out.push({ uid: t, attrs: {}, parents: [] });
  for (const e of ENVS) out.push({ uid: e, attrs: {}, parents: someOf(TENANTS, 0.5) });
  GROUPS.forEach((gr, i) => out.push({ uid: gr, attrs: {}, parents: [...someOf(TENANTS, 0.4), ...someOf(GROUPS.slice(0, i), 0.3)] }));
  for (const u of USERS) out.push({ uid: u, attrs: attrsFor(['department', 'level', 'active', 'tags', 'meta', 'ip']), parents: someOf([...GROUPS, ...TENANTS], 0.35) });
  for (const k of KEYS) out.push({ uid: k, attrs: attrsFor(['level', 'active', 'tags']), parents: someOf([...GROUPS, ...TENANTS], 0.3) });
  for (const s of SERVICES) out.push({ uid: s, attrs: attrsFor(['department', 'active']), parents: someOf(TENANTS, 0.5) });
  for (const m of MODELS) out.push({ uid: m, attrs: attrsFor(['owner', 'classification', 'regions', 'maxTokens', 'active', 'limit']), parents: someOf([...TENANTS, ...ENVS], 0.4) });
  for (const v of VERSIONS) out.push({ uid: v, attrs: attrsFor(['classification', 'maxTokens']), parents: someOf(MODELS, 0.6) });
  for (const d of [...DATASETS, ...FEATURES]) out.push({ uid: d, attrs: attrsFor(['owner', 'classification', 'regions']), parents: someOf(TENANTS, 0.5) });
  // The action hierarchy (what a schema's `memberOf` provides).
  for (const a of ACTIONS) {
    const parents: EntityRef[] = [];
    if (a.id.startsWith('read')) parents.push(ACTION_GROUPS[0]!);
    if (a.id.startsWith('write') || a.id.endsWith('Model')) parents.push(ACTION_GROUPS[1]!);
    if (a.id.startsWith('admin::')) parents.push(ACTION_GROUPS[2]!);
    out.push({ uid: a, attrs: {}, parents });
  }
  for (const a of ACTION_GROUPS) out.push({ uid: a, attrs: {}, parents: [] });
  // Drop some entities entirely so "does not exist" paths are exercised.
  return out.filter(() => rng.chance(0.93));
}

export function generateRequest(rng: Rng): AuthzRequest {
  const context: Record<string, unknown> = {};
  if (rng.chance(0.85)) context.region = rng.chance(0.95) ? rng.pick(REGIONS) : 7;
  if (rng.chance(0.85)) context.classification = rng.pick(CLASSES);
  if (rng.chance(0.8)) context.mfa = rng.chance(0.5);
  if (rng.chance(0.8)) context.sourceIp = rng.chance(0.9) ? rng.pick(IPS) : rng.pick(BAD_IPS);
  if (rng.chance(0.8)) context.time = 1_700_000_000 + rng.int(10_000_000);
  if (rng.chance(0.5)) context.tags = Array.from({ length: rng.int(3) }, () => rng.pick(['ml', 'pii', 'eu-west-1']));
  if (rng.chance(0.4)) context.nested = { level: rng.int(10), region: rng.pick(REGIONS), who: { __entity: rng.pick(USERS) } };
  const req: AuthzRequest = {
    principal: rng.pick(PRINCIPALS),
    action: rng.pick(rng.chance(0.9) ? ACTIONS : ACTION_GROUPS),
    resource: rng.pick(RESOURCES),
    context,
  };
  if (rng.chance(0.25)) req.principalParents = Array.from({ length: 1 + rng.int(2) }, () => rng.pick([...GROUPS, ...TENANTS]));
  if (rng.chance(0.15)) req.resourceParents = [rng.pick([...MODELS, ...TENANTS])];
  return req;
}
