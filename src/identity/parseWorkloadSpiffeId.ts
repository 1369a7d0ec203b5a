import { WardenError } from '../errors/index.js';
import { parseSpiffeId, type SpiffeId } from './SpiffeId.js';
import { CONTROL_PLANE_SPIFFE_PATH } from './controlPlaneIdentity.js';

/**
 * A SPIFFE ID a workload may hold: in `trustDomain`, and not the control plane's. Checked where
 * an SVID is issued and where something that leads to one is created (join tokens, registration
 * entries), so an admin typo fails at once instead of when the agent first attests.
 */
export function parseWorkloadSpiffeId(spiffeId: string, trustDomain: string): SpiffeId {
  const id = parseSpiffeId(spiffeId);
  if (id.trustDomain !== trustDomain) throw new WardenError('WARDEN_IDENTITY_TRUST_DOMAIN_MISMATCH', `${id.id} is not in trust domain ${trustDomain}`);
  // Clients pin the control plane on this ID (controlPlaneIdentity.ts): no workload may hold it.
  if (id.path === CONTROL_PLANE_SPIFFE_PATH) throw new WardenError('WARDEN_INPUT_INVALID', `${id.id} is reserved for the control plane`);
  return id;
}
