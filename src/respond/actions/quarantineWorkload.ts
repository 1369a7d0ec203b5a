import { WardenError } from '../../errors/index.js';
import { CONTROL_PLANE_SPIFFE_PATH, parseSpiffeId, type CertificateAuthority } from '../../identity/index.js';
import { stringParam, type Action } from '../Action.js';

export interface QuarantineDeps {
  ca: Pick<CertificateAuthority, 'trustDomain' | 'revoke' | 'revocations'>;
  snapshotChanged: (changedBy?: object) => void;
  onRevoked?: (kind: 'svid', count: number) => void;
}

/**
 * quarantine-workload: revokes every SVID of a SPIFFE ID. Revocation reaches every PEP through
 * the revocation list (sidecars drop the workload's open connections on the change event,
 * the control plane refuses renewal, attestation and JWT-SVIDs for it, the CRL lists it).
 * Deliberately not undoable: a quarantined identity is re-admitted by a new registration.
 */
export function quarantineWorkloadAction(deps: QuarantineDeps): Action {
  const check = (params: Parameters<Action['plan']>[0]) => {
    const spiffeId = stringParam(params, 'spiffeId', 'quarantine-workload');
    let parsed;
    try {
      parsed = parseSpiffeId(spiffeId);
    } catch {
      throw new WardenError('WARDEN_RESPOND_ACTION_PARAMS', 'quarantine-workload: spiffeId is not a SPIFFE ID');
    }
    if (parsed.trustDomain !== deps.ca.trustDomain) throw new WardenError('WARDEN_RESPOND_PRECONDITION', `quarantine-workload: ${spiffeId} is not in trust domain ${deps.ca.trustDomain}`);
    if (!parsed.path) throw new WardenError('WARDEN_RESPOND_ACTION_PARAMS', 'quarantine-workload: refusing to quarantine the whole trust domain');
    // Revoking the control plane's own SVID would cut every PEP off from it (and persist across restarts).
    if (parsed.path === CONTROL_PLANE_SPIFFE_PATH) throw new WardenError('WARDEN_RESPOND_ACTION_PARAMS', `quarantine-workload: refusing to quarantine the control plane's own identity (${spiffeId})`);
    return spiffeId;
  };
  return {
    name: 'quarantine-workload',
    description: 'Revoke every SVID of a workload (SPIFFE ID) at every PEP and close its connections.',
    async plan(params) {
      const spiffeId = check(params);
      return { description: `revoke all SVIDs of ${spiffeId}`, alreadyDone: deps.ca.revocations.hasSpiffeId(spiffeId) };
    },
    async apply(params, ctx) {
      const spiffeId = check(params);
      if (deps.ca.revocations.hasSpiffeId(spiffeId)) return { changed: false, summary: `${spiffeId} was already quarantined`, details: { spiffeId } };
      await deps.ca.revoke({ spiffeId, reason: ctx.incidentId ? `incident ${ctx.incidentId}` : 'runbook', by: ctx.actor });
      deps.snapshotChanged(ctx.changedBy);
      deps.onRevoked?.('svid', 1);
      return { changed: true, summary: `revoked all SVIDs of ${spiffeId}`, details: { spiffeId, revocationVersion: deps.ca.revocations.version } };
    },
  };
}
