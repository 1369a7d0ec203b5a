import type { ApiKeyVerifier } from '../store/index.js';

const MODEL_NAME = /^[A-Za-z0-9._-]{1,128}$/;

/** Cedar string literal: only \\ and " need escaping for the characters key names and models allow. */
function cedarString(s: string): string {
  if (/[\u0000-\u001f]/.test(s)) throw new Error('control character in Cedar string');
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
