import { isActiveKey, type ApiKeyVerifier } from '../store/index.js';
import { loadSchema, parsePolicySet, schemaViolations } from '../policy/index.js';

/**
 * Characters a reader cannot see or that reorder text (controls, zero-width and bidi format
 * characters, line separators): refused in principal ids and model names, where they would make
 * two different names look the same in `keys list` and in policies.
 */
const INVISIBLE_CLASS = '\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}';
const INVISIBLE = new RegExp(`[${INVISIBLE_CLASS}]`, 'u');

/** A model name a key may be scoped to: what requests may name (1-128 characters), nothing invisible. */
const MODEL_NAME_SOURCE = `[^${INVISIBLE_CLASS}]{1,128}`;
const MODEL_NAME = new RegExp(`^${MODEL_NAME_SOURCE}$`, 'u');

/** Key scopes: `model:*` (every model) or `model:<name>`. */
export const KEY_SCOPE = new RegExp(`^model:(?:\\*|${MODEL_NAME_SOURCE})$`, 'u');

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
    if (!isActiveKey(k, now)) continue;
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

const keyIdOf = (policyId: string): string | undefined => /^key-scope:([^:]+):/.exec(policyId)?.[1];

/**
 * The key-scope permits under a published schema: a permit the schema refuses (a principal type
 * it does not know, `ModelVersion` when it has none) is left out, so one such key cannot stop every
 * snapshot build (and with it every revocation). `grantingNothing`: keys left with no permit at
 * all, with Cedar's reason, for the admin API to refuse and the builder to log.
 */
export function scopePermitsUnderSchema(keys: readonly ApiKeyVerifier[], schemaText: string | null, now = Date.now()): { text: string; grantingNothing: Map<string, string> } {
  const text = keyScopePolicies(keys, now);
  const grantingNothing = new Map<string, string>();
  if (!schemaText || !text) return { text, grantingNothing };
  const policies = parsePolicySet(text);
  const refused = new Map(schemaViolations(loadSchema(schemaText), policies).map((v) => [v.policyId, v.message]));
  if (refused.size === 0) return { text, grantingNothing };
  const kept = policies.filter((p) => !refused.has(p.id));
  const keysKept = new Set(kept.map((p) => keyIdOf(p.id)));
  for (const [policyId, message] of refused) {
    const keyId = keyIdOf(policyId);
    if (keyId && !keysKept.has(keyId) && !grantingNothing.has(keyId)) grantingNothing.set(keyId, message);
  }
  return { text: kept.map((p) => p.text).join('\n'), grantingNothing };
}
