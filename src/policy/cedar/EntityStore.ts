import { CedarEvalError } from './errors.js';
import { CedarRecord, checkedUid, EntityUid, valueFromJson, type Value } from './values.js';

/** Cedar's entity JSON: `uid` may be `{type,id}` or `{__entity:{type,id}}`. */
export type EntityUidJson = { type: string; id: string } | { __entity: { type: string; id: string } };

export interface CedarEntityJson {
  uid: EntityUidJson;
  attrs?: Record<string, unknown>;
  parents?: EntityUidJson[];
  tags?: Record<string, unknown>;
}

export interface StoredEntity {
  readonly uid: EntityUid;
  readonly attrs: CedarRecord;
  readonly tags: CedarRecord | undefined;
  readonly parents: readonly string[];
  /** Transitive closure of `parents` (entity keys), computed once at load. */
  readonly ancestors: ReadonlySet<string>;
}

export const NO_ANCESTORS: ReadonlySet<string> = new Set();
const EMPTY_RECORD = new CedarRecord(new Map());

export function uidFromJson(json: unknown, where: string): EntityUid {
  const o = json as { type?: unknown; id?: unknown; __entity?: { type?: unknown; id?: unknown } } | null;
  const inner = o && typeof o === 'object' && '__entity' in o ? o.__entity : o;
  if (!inner || typeof inner !== 'object' || typeof inner.type !== 'string' || typeof inner.id !== 'string') {
    throw new CedarEvalError(`${where}: expected an entity reference {"type","id"}`);
  }
  return checkedUid(inner.type, inner.id, where);
}

function recordFrom(json: unknown, where: string): CedarRecord {
  if (json === undefined) return EMPTY_RECORD;
  const v: Value = valueFromJson(json, where);
  if (!(v instanceof CedarRecord)) throw new CedarEvalError(`${where}: expected a record`);
  return v;
}

/** The entity hierarchy and attributes a policy set is evaluated against; immutable once built. */
export class EntityStore {
  private readonly byKey = new Map<string, StoredEntity>();
  /** Keys that are the ancestor of some entity: an overlay on them needs a full rebuild. */
  private readonly hasDescendants = new Set<string>();

  private constructor(readonly json: readonly CedarEntityJson[]) {}

  static fromJson(entities: readonly CedarEntityJson[]): EntityStore {
    const store = new EntityStore(entities);
    const raw = new Map<string, { uid: EntityUid; attrs: CedarRecord; tags: CedarRecord | undefined; parents: string[] }>();
    entities.forEach((e, i) => {
      const where = `entities[${i}]`;
      const uid = uidFromJson(e.uid, `${where}.uid`);
      if (raw.has(uid.key)) throw new CedarEvalError(`${where}: duplicate entity ${uid.toString()}`);
      const parents = (e.parents ?? []).map((p, j) => uidFromJson(p, `${where}.parents[${j}]`).key);
      raw.set(uid.key, { uid, attrs: recordFrom(e.attrs ?? {}, `${where}.attrs`), tags: e.tags ? recordFrom(e.tags, `${where}.tags`) : undefined, parents });
    });
    // Breadth-first per entity: correct on cycles too (an entity on a cycle is its own ancestor).
    const ancestorsOf = (key: string): Set<string> => {
      const out = new Set<string>();
      const queue = [...(raw.get(key)?.parents ?? [])];
      while (queue.length > 0) {
        const p = queue.pop()!;
        if (out.has(p)) continue;
        out.add(p);
        for (const q of raw.get(p)?.parents ?? []) if (!out.has(q)) queue.push(q);
      }
      return out;
    };
    for (const [key, r] of raw) {
      const ancestors = ancestorsOf(key);
      // Cedar rejects hierarchies with cycles (the whole request fails), so do we.
      if (ancestors.has(key)) throw new CedarEvalError(`entity hierarchy has a cycle containing ${r.uid.toString()}`);
      for (const a of ancestors) store.hasDescendants.add(a);
      store.byKey.set(key, { ...r, ancestors });
    }
    return store;
  }

  get(key: string): StoredEntity | undefined {
    return this.byKey.get(key);
  }

  ancestors(key: string): ReadonlySet<string> {
    return this.byKey.get(key)?.ancestors ?? NO_ANCESTORS;
  }

  isAncestorOfAny(key: string): boolean {
    return this.hasDescendants.has(key);
  }

  get size(): number {
    return this.byKey.size;
  }
}

/**
 * Entities as one request sees them: the store plus request-scoped entities (the principal's
 * groups from authentication). Only principal and resource get an overlay on the fast path.
 */
export class RequestEntities {
  constructor(
    private readonly store: EntityStore,
    private readonly overlay: ReadonlyMap<string, StoredEntity> | null,
  ) {}

  get(key: string): StoredEntity | undefined {
    return (this.overlay !== null && this.overlay.get(key)) || this.store.get(key);
  }

  ancestors(key: string): ReadonlySet<string> {
    if (this.overlay !== null) {
      const o = this.overlay.get(key);
      if (o) return o.ancestors;
    }
    return this.store.ancestors(key);
  }

  /** Cedar `in` for entities: reflexive, transitive. */
  isIn(key: string, ancestorKey: string): boolean {
    return key === ancestorKey || this.ancestors(key).has(ancestorKey);
  }

  /** An entity with extra parents; its ancestors are closed over the store. */
  static withParents(store: EntityStore, uid: EntityUid, parents: readonly EntityUid[]): StoredEntity {
    const base = store.get(uid.key);
    const parentKeys = new Set(base?.parents ?? []);
    const ancestors = new Set(base?.ancestors ?? []);
    for (const p of parents) {
      if (p.key === uid.key || store.ancestors(p.key).has(uid.key)) throw new CedarEvalError(`entity hierarchy has a cycle containing ${uid.toString()}`);
      parentKeys.add(p.key);
      ancestors.add(p.key);
      for (const a of store.ancestors(p.key)) ancestors.add(a);
    }
    return { uid, attrs: base?.attrs ?? EMPTY_RECORD, tags: base?.tags, parents: [...parentKeys], ancestors };
  }
}
