import { WardenError } from '../errors/index.js';

/** Every permit Warden generates from an API key scope has an id starting so; published policies may not. */
export const KEY_SCOPE_ID_PREFIX = 'key-scope:';

/**
 * Refuses a set that uses a reserved id: such a policy would collide with a key's generated permit,
 * which the snapshot then leaves out, so the key would silently lose its grant. Checked where a set
 * is published and where it is checked (the admin API and `warden policy check` offline alike).
 */
export function assertNoReservedPolicyIds(policies: readonly { id: string }[]): void {
  const reserved = policies.find((p) => p.id.startsWith(KEY_SCOPE_ID_PREFIX));
  if (reserved) {
    throw new WardenError('WARDEN_POLICY_ID_RESERVED', `@id(${JSON.stringify(reserved.id)}): ids starting with "${KEY_SCOPE_ID_PREFIX}" are reserved for the permits Warden generates from API key scopes`);
  }
}
