import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Decision, EntityRef } from '../policy/index.js';
import type { ErrorCode } from '../errors/index.js';
import type { PepSnapshot } from './PepSnapshot.js';
import type { RouteMatch } from './protocols/routes.js';
import type { RateLimitGrant } from './ratelimit/index.js';

export type GatewayRequest = IncomingMessage | Http2ServerRequest;
export type GatewayResponse = ServerResponse | Http2ServerResponse;

/** Who the request is from, once authenticated. `id` is an identifier, never a credential. */
export interface Principal {
  entity: EntityRef;
  /** Key id, SPIFFE ID or JWT subject, for the audit record. */
  id: string;
  method: 'api-key' | 'jwt' | 'mtls' | 'jwt-svid';
  parents: EntityRef[];
  /** The issuer of a JWT (jwt): subjects are unique only per issuer, so the audit record names it. */
  issuer?: string;
  /** Tenant for rate limits (a JWT's tenant claim; see claimsToParents). */
  tenant?: string;
  /** Whether the credential proves multi-factor authentication (JWT amr/acr). */
  mfa?: boolean;
  /**
   * Serial of the client X.509-SVID (mtls), or of the one a JWT-SVID was minted with (jwt-svid):
   * a revocation by serial closes its connection, or ends the JWT-SVID's request.
   */
  serial?: string;
  /** Prefix of the API key (api-key): finds its record in a newer snapshot, which may revoke it mid-answer. */
  keyPrefix?: string;
  /** Serials of the intermediates that issued it (mtls): revoking one closes the connection too. */
  issuerSerials?: readonly string[];
}

/** One request as it flows through the pipeline stages (DESIGN.md order). */
export interface RequestContext {
  readonly requestId: string;
  readonly startNs: bigint;
  readonly req: GatewayRequest;
  readonly res: GatewayResponse;
  readonly method: string;
  readonly path: string;
  readonly sourceIp: string;
  snapshot: PepSnapshot;
  route: RouteMatch | null;
  body: Buffer | null;
  json: Record<string, unknown> | null;
  principal: Principal | null;
  decision: Decision | null;
  /** Nanoseconds spent waiting for the upstream (excluded from Warden's overhead). */
  upstreamNs: bigint;
  status: number;
  errorCode: string | null;
  /** What the rate-limit stage took (released when the request ends). */
  rateGrant: RateLimitGrant | null;
  /** Detector verdicts for the audit record (never the matched text). */
  verdicts: { detector: string; action: string; score?: number; kinds?: string[] }[] | null;
  /** Set when the response has been fully handled by a stage (e.g. streamed). */
  responded: boolean;
  /**
   * Set when the gateway cut this request off while it ran (its credential was revoked): the audit
   * record's code, and whether the client had its answer's status line by then.
   */
  closedBy: { code: ErrorCode; afterHeaders: boolean } | null;
}
