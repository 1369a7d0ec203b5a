import { createHash } from 'node:crypto';
import { canonicalJson } from '../audit/index.js';
import { WardenError } from '../errors/index.js';
import type { Authorizer, AuthzRequest, Decision } from './Authorizer.js';
import { compilePolicy, type CompiledPolicy, type ScopeKey } from './cedar/compilePolicy.js';
import type { Env } from './cedar/compileExpr.js';
import { EntityStore, RequestEntities, type CedarEntityJson, type StoredEntity } from './cedar/EntityStore.js';
import { CedarEvalError, NeedsReferenceEvaluator, UnsupportedConstruct } from './cedar/errors.js';
import { checkedUid, EntityUid } from './cedar/values.js';
import { contextRecord } from './cedar/contextRecord.js';
import { parsePolicySet, type ParsedPolicy } from './parsePolicySet.js';
import type { PolicyJson } from './cedarWasm.js';
import { ReferenceAuthorizer, REQUEST_ERROR_ID } from './ReferenceAuthorizer.js';
import { requestEntitiesJson } from './requestEntities.js';
import { loadSchema, validateEntities, validatePolicies, type LoadedSchema } from './schema.js';

export interface CompileOptions {
  /** Cedar schema (`.cedarschema` or JSON). When set, policies are validated strictly and its action groups are loaded. */
  schemaText?: string;
  /** Entities (groups, tenants, model attributes) in Cedar JSON. */
  entities?: CedarEntityJson[];
  /** Version reported to PEPs and audit records; default: a content hash. */
  version?: string;
  /** Evaluate everything with cedar-wasm (for comparisons). */
  forceReference?: boolean;
}

export interface PolicyInfo {
  id: string;
  index: number;
  effect: 'permit' | 'forbid';
  text: string;
  annotations: Record<string, string>;
  /** Cedar's JSON form (scopes and conditions), as cedar-wasm produced it. */
  json: PolicyJson;
}

/** Counters the metrics exporter reads (plain fields: no work on the hot path). */
export interface EvaluatorStats {
  compiledDecisions: number;
  referenceDecisions: number;
}

/** Candidate lists per scope shape: `==`/`in` entity, `is` type, unconstrained. */
class ScopeIndex {
  private readonly byEntity = new Map<string, CompiledPolicy[]>();
  private readonly byType = new Map<string, CompiledPolicy[]>();
  private readonly all: CompiledPolicy[] = [];

  add(p: CompiledPolicy, key: ScopeKey): void {
    const push = <K>(m: Map<K, CompiledPolicy[]>, k: K): void => {
      const list = m.get(k);
      if (list) list.push(p);
      else m.set(k, [p]);
    };
    if (key.kind === 'all') this.all.push(p);
    else if (key.kind === 'type') push(this.byType, key.type);
    else for (const k of key.keys) push(this.byEntity, k);
  }

  count(uid: EntityUid, ancestors: ReadonlySet<string>): number {
    let n = this.all.length + (this.byEntity.get(uid.key)?.length ?? 0);
    if (this.byType.size > 0) n += this.byType.get(uid.type)?.length ?? 0;
    if (ancestors.size > 0) for (const a of ancestors) n += this.byEntity.get(a)?.length ?? 0;
    return n;
  }

  lists(uid: EntityUid, ancestors: ReadonlySet<string>, out: CompiledPolicy[][]): void {
    out.length = 0;
    const own = this.byEntity.get(uid.key);
    if (own) out.push(own);
    if (ancestors.size > 0) {
      for (const a of ancestors) {
        const l = this.byEntity.get(a);
        if (l) out.push(l);
      }
    }
    if (this.byType.size > 0) {
      const t = this.byType.get(uid.type);
      if (t) out.push(t);
    }
    if (this.all.length > 0) out.push(this.all);
  }
}

const EMPTY_DENY_ERRORS: Decision['errors'] = [];
const SHORT_CANDIDATE_LIST = 8;

/**
 * A policy set compiled to closures. `authorize` evaluates only the policies whose scope can
 * match (index on principal, action and resource; the narrowest is scanned) and follows
 * Cedar semantics: forbid overrides permit, default deny, erroring policies are skipped
 * and reported. Sets the compiler cannot handle are answered by cedar-wasm (`fallback`).
 */
export class CompiledPolicySet implements Authorizer {
  readonly version: string;
  readonly policies: readonly PolicyInfo[];
  readonly schema: LoadedSchema | undefined;
  /** True when every decision is made by cedar-wasm; `fallbackReasons` says why. */
  readonly fallback: boolean;
  readonly fallbackReasons: readonly string[];
  readonly stats: EvaluatorStats = { compiledDecisions: 0, referenceDecisions: 0 };
  /** The entity list (set entities + schema actions) in Cedar JSON. */
  readonly entitiesJson: readonly CedarEntityJson[];

  private readonly store: EntityStore;
  private readonly compiled: CompiledPolicy[] = [];
  private readonly principalIndex = new ScopeIndex();
  private readonly actionIndex = new ScopeIndex();
  private readonly resourceIndex = new ScopeIndex();
  private readonly parsed: readonly ParsedPolicy[];
  private reference: ReferenceAuthorizer | undefined;
  private epoch = 0;
  private readonly scratch: CompiledPolicy[][] = [];

  constructor(parsed: readonly ParsedPolicy[], options: CompileOptions & { schema?: LoadedSchema; version: string }) {
    this.version = options.version;
    this.parsed = parsed;
    this.schema = options.schema;
    this.policies = parsed.map((p) => ({ id: p.id, index: p.index, effect: p.json.effect, text: p.text, annotations: { ...(p.json.annotations ?? {}) }, json: p.json }));
    this.entitiesJson = [...(options.entities ?? []), ...(options.schema?.actionEntities ?? []).filter((a) => !hasUid(options.entities ?? [], a))];
    try {
      this.store = EntityStore.fromJson(this.entitiesJson);
    } catch (err) {
      throw new WardenError('WARDEN_POLICY_ENTITIES_INVALID', (err as Error).message, { cause: err });
    }
    const reasons: string[] = [];
    if (options.forceReference) reasons.push('reference evaluation requested');
    for (const p of parsed) {
      try {
        const c = compilePolicy(p.id, p.index, p.json as never);
        this.compiled.push(c);
        this.principalIndex.add(c, c.principalKey);
        this.actionIndex.add(c, c.actionKey);
        this.resourceIndex.add(c, c.resourceKey);
      } catch (err) {
        if (err instanceof UnsupportedConstruct) reasons.push(err.message);
        else throw err;
      }
    }
    this.fallback = reasons.length > 0;
    this.fallbackReasons = reasons;
    if (this.fallback) this.reference = new ReferenceAuthorizer(this.version, parsed, this.entitiesJson);
  }

  authorize(request: AuthzRequest): Decision {
    if (this.fallback) return this.referenceDecision(request);
    let env: Env;
    try {
      env = this.buildEnv(request);
    } catch (err) {
      if (err instanceof NeedsReferenceEvaluator) return this.referenceDecision(request);
      if (err instanceof UnsupportedConstruct) return this.referenceDecision(request);
      return { decision: 'deny', determining: [], errors: [{ policyId: REQUEST_ERROR_ID, message: (err as Error).message }] };
    }
    const epoch = ++this.epoch;
    // Scan the narrowest of the three candidate lists; a short principal list (the usual
    // shape: grants per key, user or group) is taken without counting the others.
    const lists = this.scratch;
    const pAnc = env.entities.ancestors(env.principal.key);
    const pc = this.principalIndex.count(env.principal, pAnc);
    if (pc <= SHORT_CANDIDATE_LIST) this.principalIndex.lists(env.principal, pAnc, lists);
    else {
      const aAnc = env.entities.ancestors(env.action.key);
      const rAnc = env.entities.ancestors(env.resource.key);
      const ac = this.actionIndex.count(env.action, aAnc);
      const rc = this.resourceIndex.count(env.resource, rAnc);
      if (pc <= ac && pc <= rc) this.principalIndex.lists(env.principal, pAnc, lists);
      else if (ac <= rc) this.actionIndex.lists(env.action, aAnc, lists);
      else this.resourceIndex.lists(env.resource, rAnc, lists);
    }

    let permits: CompiledPolicy[] | undefined;
    let forbids: CompiledPolicy[] | undefined;
    let errors: { policyId: string; message: string; index: number }[] | undefined;
    for (let l = 0; l < lists.length; l++) {
      const list = lists[l]!;
      for (let i = 0; i < list.length; i++) {
        const p = list[i]!;
        if (p.seen === epoch) continue;
        p.seen = epoch;
        if (!p.matchesScope(env)) continue;
        try {
          if (!p.conditions(env)) continue;
        } catch (err) {
          if (err instanceof CedarEvalError) {
            (errors ??= []).push({ policyId: p.id, message: err.message, index: p.index });
            continue;
          }
          if (err instanceof NeedsReferenceEvaluator) return this.referenceDecision(request);
          throw err;
        }
        if (p.effect === 'forbid') (forbids ??= []).push(p);
        else (permits ??= []).push(p);
      }
    }
    lists.length = 0;
    this.stats.compiledDecisions++;
    const errs = errors === undefined ? EMPTY_DENY_ERRORS : sortByIndex(errors).map((e) => ({ policyId: e.policyId, message: e.message }));
    if (forbids !== undefined) return { decision: 'deny', determining: idsInOrder(forbids), errors: errs };
    if (permits !== undefined) return { decision: 'allow', determining: idsInOrder(permits), errors: errs };
    return { decision: 'deny', determining: [], errors: errs === EMPTY_DENY_ERRORS ? [] : errs };
  }

  /** The same request answered by cedar-wasm (used for fallback, `--reference` and tests). */
  authorizeWithReference(request: AuthzRequest): Decision {
    this.reference ??= new ReferenceAuthorizer(this.version, this.parsed, this.entitiesJson);
    return this.reference.authorize(request);
  }

  policy(id: string): PolicyInfo | undefined {
    return this.policies.find((p) => p.id === id);
  }

  private referenceDecision(request: AuthzRequest): Decision {
    this.stats.referenceDecisions++;
    return this.authorizeWithReference(request);
  }

  private buildEnv(request: AuthzRequest): Env {
    const principal = checkedUid(request.principal.type, request.principal.id, 'principal');
    const action = checkedUid(request.action.type, request.action.id, 'action');
    const resource = checkedUid(request.resource.type, request.resource.id, 'resource');
    const context = contextRecord(request.context ?? {});
    const pp = request.principalParents;
    const rp = request.resourceParents;
    let entities: RequestEntities;
    if (request.entities !== undefined && request.entities.length > 0) {
      entities = new RequestEntities(EntityStore.fromJson(requestEntitiesJson(this.entitiesJson, request)), null);
    } else if ((pp === undefined || pp.length === 0) && (rp === undefined || rp.length === 0)) {
      entities = new RequestEntities(this.store, null);
    } else if (
      (pp?.length && this.store.isAncestorOfAny(principal.key)) ||
      (rp?.length && this.store.isAncestorOfAny(resource.key)) ||
      (rp?.length && pp?.some((p) => p.type === resource.type && p.id === resource.id)) ||
      (pp?.length && rp?.some((p) => p.type === principal.type && p.id === principal.id))
    ) {
      // New parents of an entity others descend from change their closures too (a request parent
      // that is the other request entity brings that one's request parents along): rebuild.
      entities = new RequestEntities(EntityStore.fromJson(requestEntitiesJson(this.entitiesJson, request)), null);
    } else {
      const overlay = new Map<string, StoredEntity>();
      if (pp?.length) overlay.set(principal.key, RequestEntities.withParents(this.store, principal, pp.map((p) => new EntityUid(p.type, p.id))));
      if (rp?.length) {
        const prior = overlay.get(resource.key);
        const parents = rp.map((p) => new EntityUid(p.type, p.id));
        // Principal and resource may be the same entity.
        overlay.set(resource.key, prior ? RequestEntities.withParents(this.store, resource, [...(pp ?? []).map((p) => new EntityUid(p.type, p.id)), ...parents]) : RequestEntities.withParents(this.store, resource, parents));
      }
      entities = new RequestEntities(this.store, overlay);
    }
    return { principal, action, resource, context, entities };
  }
}

function hasUid(list: readonly CedarEntityJson[], e: CedarEntityJson): boolean {
  const u = e.uid as { type: string; id: string };
  return list.some((x) => {
    const v = x.uid as { type?: string; id?: string; __entity?: { type: string; id: string } };
    const w = v.__entity ?? v;
    return w.type === u.type && w.id === u.id;
  });
}

function sortByIndex<T extends { index: number }>(xs: T[]): T[] {
  return xs.length > 1 ? xs.sort((a, b) => a.index - b.index) : xs;
}

function idsInOrder(ps: CompiledPolicy[]): string[] {
  if (ps.length === 1) return [ps[0]!.id];
  return sortByIndex(ps).map((p) => p.id);
}

/** Content hash of everything that determines decisions (canonical JSON: stable across jsonb round trips). */
export function policySetDigest(text: string, schemaText: string | undefined, entities: readonly CedarEntityJson[] | undefined): string {
  return createHash('sha256')
    .update(canonicalJson([text, schemaText ?? null, entities ?? []]))
    .digest('hex');
}

/**
 * Parses (cedar-wasm), validates against the schema when given, and compiles a policy set.
 * Throws WardenError WARDEN_POLICY_PARSE_FAILED / _SCHEMA_INVALID / _VALIDATION_FAILED /
 * _ENTITIES_INVALID; never returns a half-built set.
 */
export function compilePolicySet(policiesText: string, options: CompileOptions = {}): CompiledPolicySet {
  const parsed = parsePolicySet(policiesText);
  const schema = options.schemaText !== undefined ? loadSchema(options.schemaText) : undefined;
  if (schema) {
    validatePolicies(schema, parsed);
    validateEntities(schema, options.entities ?? []);
  }
  const version = options.version ?? `sha256:${policySetDigest(policiesText, options.schemaText, options.entities).slice(0, 16)}`;
  return new CompiledPolicySet(parsed, { ...options, schema, version });
}
