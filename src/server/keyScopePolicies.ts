import type { ApiKeyVerifier } from '../store/index.js';
import { loadSchema, parsePolicySet, schemaViolations } from '../policy/index.js';
import type { Logger } from '../observe/index.js';

/**
 * Characters a reader cannot see or that reorder text (controls, zero-width and bidi format
 * characters, line separators): refused in principal ids and model names, where they would make
 * two different names look the same in `keys list` and in policies.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/** A model name a key may be scoped to: what requests may name (1-128 characters), nothing invisible. */
const MODEL_NAME = /^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}]{1,128}$/u;

/** Key scopes: `model:*` (every model) or `model:<name>`. */
export const KEY_SCOPE = /^model:(?:\*|[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}]{1,128})$/u;

/** Cedar string literal: only \\ and " need escaping once invisible characters are refused. */
function cedarString(s: string): string {
  if (INVISIBLE.test(s)) throw new Error('invisible character in Cedar string');
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * A key's principal (`Type::"id"`) as a Cedar literal, or null when it is not one (bad escape,
 * control character): such a key gets no generated permit rather than breaking the whole
 * snapshot, and the admin API refuses to create one.
 */
export function cedarEntity(text: string): string | null {
  const m = /^((?:[A-Za-z_][A-Za-z0-9_]*::)*[A-Za-z_][A-Za-z0-9_]*)::"((?:[^"\\]|\\.)*)"$/.exec(text);
  if (!m) return null;
  try {
    return `${m[1]}::${cedarString(JSON.parse(`"${m[2]}"`) as string)}`;
  } catch {
    return null;
  }
}

/**
 * `warden keys create --model X` is a shorthand for a Cedar permit: the scopes of every active
 * key become generated policies (ids `key-scope:<key id>:<model>`) evaluated with the published
 * set, so forbids written by users still override them and decisions explain which grant applied.
 */
export function keyScopePolicies(keys: readonly ApiKeyVerifier[], now = Date.now()): string {
  const out: string[] = [];
  for (const k of keys) {
    if (k.revokedAt || (k.expiresAt && k.expiresAt.getTime() <= now)) continue;
    const principal = cedarEntity(k.principal);
    if (!principal) continue;
    for (const scope of k.scopes) {
      if (!scope.startsWith('model:')) continue;
      const model = scope.slice('model:'.length);
      // `in`, not `==`: a versioned route (/v2/models/M/versions/V/…) is ModelVersion::"M@V", in
      // Model::"M". Every model is two scoped permits, so analysis sees no unscoped resource.
      const grants: [string, string][] =
        model === '*' ? [['any-model', 'resource is Model'], ['any-model-version', 'resource is ModelVersion']] : MODEL_NAME.test(model) ? [[model, `resource in Model::${cedarString(model)}`]] : [];
      for (const [name, resource] of grants) {
        out.push(`@id(${cedarString(`key-scope:${k.id}:${name}`)})\npermit(principal == ${principal}, action in [Action::"invoke", Action::"submitFeedback"], ${resource});`);
      }
    }
  }
  return out.join('\n');
}

/**
 * Keys whose generated permits do not match the published schema (a principal type the schema
 * does not know, or one that may not invoke models), with Cedar's reason. Their permits are left
 * out of the snapshot: one such key must not stop every later snapshot (and revocation) from being built.
 */
export function keysOutsideSchema(keys: readonly ApiKeyVerifier[], schemaText: string, now = Date.now()): Map<string, string> {
  const text = keyScopePolicies(keys, now);
  const bad = new Map<string, string>();
  if (!text) return bad;
  for (const v of schemaViolations(loadSchema(schemaText), parsePolicySet(text))) {
    const keyId = /^key-scope:([^:]+):/.exec(v.policyId)?.[1];
    if (keyId && !bad.has(keyId)) bad.set(keyId, v.message);
  }
  return bad;
}

/** The keys whose scopes become permits under `schemaText` (null: no schema, all of them); the others are logged. */
export function grantingKeys(keys: readonly ApiKeyVerifier[], schemaText: string | null, logger: Pick<Logger, 'warn'>): readonly ApiKeyVerifier[] {
  if (!schemaText) return keys;
  const outside = keysOutsideSchema(keys, schemaText);
  if (outside.size === 0) return keys;
  logger.warn({ keys: [...outside.keys()], reason: outside.values().next().value }, 'API keys whose scopes do not match the published schema grant nothing');
  return keys.filter((k) => !outside.has(k.id));
}
