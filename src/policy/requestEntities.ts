import type { AuthzRequest, EntityRef } from './Authorizer.js';
import type { CedarEntityJson } from './cedar/EntityStore.js';

function key(e: EntityRef): string {
  return `${e.type}\u0000${e.id}`;
}

function uidOf(e: CedarEntityJson): EntityRef {
  const u = e.uid as { type: string; id: string } | { __entity: { type: string; id: string } };
  return '__entity' in u ? u.__entity : u;
}

/**
 * The entity list one request is evaluated against, in Cedar JSON: the set's entities,
 * replaced by request-scoped `entities` with the same uid, and the principal/resource given
 * the parents authentication found. Both evaluators see exactly this list.
 */
export function requestEntitiesJson(base: readonly CedarEntityJson[], request: AuthzRequest): CedarEntityJson[] {
  const byKey = new Map<string, CedarEntityJson>();
  for (const e of base) byKey.set(key(uidOf(e)), e);
  for (const e of request.entities ?? []) byKey.set(key(uidOf(e)), e);
  const addParents = (target: EntityRef, parents: readonly EntityRef[] | undefined): void => {
    if (!parents || parents.length === 0) return;
    const k = key(target);
    const existing = byKey.get(k);
    const have = new Set((existing?.parents ?? []).map((p) => key(uidOf({ uid: p }))));
    const merged = [...(existing?.parents ?? [])];
    for (const p of parents) {
      if (!have.has(key(p))) {
        have.add(key(p));
        merged.push({ type: p.type, id: p.id });
      }
    }
    byKey.set(k, { uid: { type: target.type, id: target.id }, attrs: existing?.attrs ?? {}, ...(existing?.tags ? { tags: existing.tags } : {}), parents: merged });
  };
  addParents(request.principal, request.principalParents);
  addParents(request.resource, request.resourceParents);
  return [...byKey.values()];
}
