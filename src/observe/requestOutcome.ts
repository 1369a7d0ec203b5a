import { errorCodes } from '../errors/index.js';

/**
 * How one gateway request ended, as its audit record, its metric and its alert event all say:
 * - `allow`: answered without a refusal or failure;
 * - `deny`: Warden refused it (policy, authentication, a limit, a guard), before or during the answer;
 * - `error`: Warden or the model server failed (5xx codes), not the client's doing;
 * - `cancelled`: the client went away (WARDEN_GATEWAY_CLIENT_CLOSED) before the answer was
 *   complete. Neither a refusal (no alert rule should count it as a deny) nor a failure (a client
 *   must not be able to raise error rates by hanging up).
 */
export type RequestOutcome = 'allow' | 'deny' | 'error' | 'cancelled';

/** The fields of a request the outcome is read from (structural: observe does not import gateway/). */
export interface OutcomeFields {
  readonly status: number;
  readonly errorCode: string | null;
  readonly decision: { decision: 'allow' | 'deny' } | null;
}

const CODE_STATUS = errorCodes as Readonly<Record<string, { status: number } | undefined>>;

/**
 * The one classification of a request's end. A code is judged by its own status, not the status
 * answered: once an answer has begun its status is the upstream's (200), yet a revocation cut-off
 * is still a refusal and an upstream that broke off is still a failure.
 */
export function requestOutcome(r: OutcomeFields): RequestOutcome {
  const code = r.errorCode;
  if (code === 'WARDEN_GATEWAY_CLIENT_CLOSED') return 'cancelled';
  if (r.decision?.decision === 'deny') return 'deny';
  if (code === null) return 'allow';
  const status = CODE_STATUS[code]?.status ?? r.status;
  return status >= 400 && status < 500 ? 'deny' : 'error';
}

/** The audit record's `decision` (allow | deny): only a refusal is a deny; a failure or a cancel carries its code. */
export function auditDecisionOf(outcome: RequestOutcome): 'allow' | 'deny' {
  return outcome === 'deny' ? 'deny' : 'allow';
}
