import { createHash } from 'node:crypto';
import { isActiveKey, type ApiKeyVerifier } from '../store/index.js';
import { KEY_SCOPE_ID_PREFIX, INVISIBLE, cedarEntity, cedarString, loadSchema, parsePolicySet, schemaViolations, type KeyScopeGrant, type ParsedPolicy } from '../policy/index.js';
import { isRequestModelName, MAX_MODEL_NAME_LENGTH } from '../gateway/index.js';

/**
 * A model name a key may be scoped to: any name a request may use (the gateway's own rule, so the
 * two cannot drift apart), except invisible ones.
 */
export function isScopeModelName(name: string): boolean {
  return isRequestModelName(name) && !INVISIBLE.test(name);
}

/** Key scopes: `model:*` (every model) or `model:<name>`. */
export function isKeyScope(scope: string): boolean {
  if (!scope.startsWith('model:')) return false;
  const model = scope.slice('model:'.length);
  return model === '*' || isScopeModelName(model);
}

export const KEY_SCOPE_RULE = `a scope is model:* or model:<name>, <name> being what requests send as the model: 1-${MAX_MODEL_NAME_LENGTH} characters (one outside the Basic Multilingual Plane counts as 2), none invisible (control, format, line or paragraph separator)`;

/** Generated-permit names that are not model names (the two halves of `model:*`). */
const ANY_MODEL = 'any-model';
const ANY_MODEL_VERSION = 'any-model-version';
const RESERVED_NAMES = new Set([ANY_MODEL, ANY_MODEL_VERSION]);

/** Model names used as they are in a permit id: policy-id characters, but no `:` (see below). */
const PLAIN_NAME = /^[A-Za-z0-9_.@/-]+$/;


/** Cedar policy ids Warden accepts are at most 128 characters (parsePolicySet). */
const MAX_POLICY_ID = 128;

/**
 * The id of a key's generated permit for one model. A model name may be anything a request may
 * send (`qwen2.5+tools`, `Ä-model`, `ft:gpt-4o:org::x`, 128 characters), a policy id may not, so:
 * - `key-scope:<key id>:<name>` when the name is made of id characters other than `:` and the id
 *   fits: readable in audit records and stable for the names that always had such ids;
 * - `key-scope:<key id>:sha256:<hex of SHA-256 of the UTF-8 name>` otherwise: always a valid id
 *   (for key ids up to 46 characters; Warden's are 20), and never equal to a readable one, which
 *   has no `:` after the key id; `any-model` and `any-model-version`, the ids of `model:*`, are
 *   hashed for the same reason.
 */
export function keyScopePolicyId(keyId: string, model: string): string {
  const readable = `${KEY_SCOPE_ID_PREFIX}${keyId}:${model}`;
  if (PLAIN_NAME.test(model) && !RESERVED_NAMES.has(model) && readable.length <= MAX_POLICY_ID) return readable;
  return `${KEY_SCOPE_ID_PREFIX}${keyId}:sha256:${createHash('sha256').update(model, 'utf8').digest('hex')}`;
}

/** One generated permit, with the key and the scope it stands for. */
interface KeyPermit {
  keyId: string;
  keyName: string;
  scope: string;
  id: string;
  text: string;
}

/**
 * The permits one key's scopes stand for (each scope once), and why a scope or the key got none:
 * a principal that is no Cedar entity, a scope that names no model a request may use (stored
 * before today's rules). Throws for a stored key id that cannot be a Cedar string.
 */
function permitsOf(k: ApiKeyVerifier): { permits: KeyPermit[]; problem: string | null } {
  const principal = cedarEntity(k.principal);
  if (!principal) return { permits: [], problem: 'its principal is not a Cedar entity' };
  let problem: string | null = null;
  const grants = new Map<string, { scope: string; resource: string }>();
  for (const scope of new Set(k.scopes)) {
    if (!scope.startsWith('model:')) continue;
    const model = scope.slice('model:'.length);
    // `in`, not `==`: a versioned route (/v2/models/M/versions/V/…) is ModelVersion::"M@V", in
    // Model::"M". Every model is two scoped permits (`is`, which analyze reports as one
    // wildcard-key-scope finding for the key).
    if (model === '*') {
      grants.set(`${KEY_SCOPE_ID_PREFIX}${k.id}:${ANY_MODEL}`, { scope, resource: 'resource is Model' });
      grants.set(`${KEY_SCOPE_ID_PREFIX}${k.id}:${ANY_MODEL_VERSION}`, { scope, resource: 'resource is ModelVersion' });
    } else if (isScopeModelName(model)) {
      grants.set(keyScopePolicyId(k.id, model), { scope, resource: `resource in Model::${cedarString(model)}` });
    } else problem ??= `a scope is not one: ${KEY_SCOPE_RULE}`;
  }
  const permits = [...grants].map(([id, { scope, resource }]) => ({
    keyId: k.id,
    keyName: k.name,
    scope,
    id,
    text: `@id(${cedarString(id)})\npermit(principal == ${principal}, action in [Action::"invoke", Action::"submitFeedback"], ${resource});`,
  }));
  return { permits, problem };
}

export interface KeyScopePermits {
  /** The permits that can join the snapshot's policy set. */
  text: string;
  /** Each of those permits by policy id: the key and the scope it was generated from (for analysis). */
  grants: Map<string, KeyScopeGrant>;
  /** Keys left with no permit at all by the published schema, with Cedar's reason. */
  grantingNothing: Map<string, string>;
  /**
   * Keys with a permit that could not be expressed at all (a scope or key id stored before
   * today's rules, an id a published policy already uses), with the reason: that permit is left
   * out, so the key is denied what it would have granted.
   */
  unexpressible: Map<string, string>;
}

/**
 * `warden keys create --model X` is a shorthand for a Cedar permit: the scopes of every active
 * key become generated policies (ids: keyScopePolicyId) evaluated with the published set, so
 * forbids written by users still override them and decisions explain which grant applied.
 *
 * The key-scope permits that can go into a snapshot. One key must never stop every snapshot build
 * (and with it every revocation), so each permit is parsed on its own and one that fails (or whose
 * id `takenIds` already holds: the published set's) is left out: default deny for what it would
 * have granted. Under a published schema a permit the schema refuses (a principal type it does not
 * know, `ModelVersion` when it has none) is left out too.
 */
export function scopePermitsUnderSchema(keys: readonly ApiKeyVerifier[], schemaText: string | null, now = Date.now(), takenIds: ReadonlySet<string> = new Set()): KeyScopePermits {
  const grantingNothing = new Map<string, string>();
  const unexpressible = new Map<string, string>();
  const seen = new Set(takenIds);
  const parsed: { permit: KeyPermit; policy: ParsedPolicy }[] = [];
  const leaveOut = (keyId: string, err: unknown): void => {
    if (!unexpressible.has(keyId)) unexpressible.set(keyId, err instanceof Error ? err.message : String(err));
  };
  for (const k of keys) {
    if (!isActiveKey(k, now)) continue;
    let permits: KeyPermit[];
    try {
      const of = permitsOf(k);
      if (of.problem) leaveOut(k.id, of.problem);
      permits = of.permits;
    } catch (err) {
      leaveOut(k.id, err);
      continue;
    }
    for (const permit of permits) {
      try {
        if (seen.has(permit.id)) throw new Error(`policy id ${JSON.stringify(permit.id)} is already used by another policy`);
        const [policy] = parsePolicySet(permit.text);
        seen.add(permit.id);
        parsed.push({ permit, policy: policy! });
      } catch (err) {
        leaveOut(permit.keyId, err);
      }
    }
  }
  let kept = parsed;
  if (schemaText && parsed.length > 0) {
    const refused = new Map(schemaViolations(loadSchema(schemaText), parsed.map((p) => p.policy)).map((v) => [v.policyId, v.message]));
    if (refused.size > 0) {
      kept = parsed.filter((p) => !refused.has(p.policy.id));
      const keysKept = new Set(kept.map((p) => p.permit.keyId));
      for (const p of parsed) {
        const message = refused.get(p.policy.id);
        if (message !== undefined && !keysKept.has(p.permit.keyId) && !grantingNothing.has(p.permit.keyId)) grantingNothing.set(p.permit.keyId, message);
      }
    }
  }
  const grants = new Map(kept.map(({ permit }) => [permit.id, { keyId: permit.keyId, keyName: permit.keyName, scope: permit.scope }]));
  return { text: kept.map((p) => p.policy.text).join('\n'), grants, grantingNothing, unexpressible };
}
