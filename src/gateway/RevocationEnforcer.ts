import type { RevocationList } from '../identity/index.js';
import { WardenError, type ErrorCode } from '../errors/index.js';
import type { GatewayRequest, Principal, RequestContext } from './RequestContext.js';
import type { PepSnapshot, SnapshotHolder } from './PepSnapshot.js';
import { cutOff } from './cutOff.js';
import { principalRefusal } from './principalRefusal.js';

/** A client connection: an HTTP/1.1 TLS socket or an HTTP/2 session (both close with `destroy()`). */
interface Connection {
  readonly destroyed: boolean;
  destroy(): void;
  once(event: 'close', listener: () => void): unknown;
}

function connectionOf(req: GatewayRequest): Connection | null {
  // HTTP/2: the session, so every stream of the connection ends with it (req.socket is a proxy that refuses destroy()).
  if ('stream' in req) return req.stream.session ?? null;
  return req.socket ?? null;
}

function isWorkload(p: Principal): boolean {
  return p.method === 'mtls' || p.method === 'jwt-svid';
}

/**
 * Applies a revocation to what is already open (docs/identity.md: a PEP closes the revoked
 * peer's open connections at once). The authenticators check revocation when a request starts;
 * a response streaming for minutes, or an idle keep-alive connection, would otherwise outlive it.
 * - On each change of the SVID revocation list this closes the client connections whose
 *   X.509-SVID (SPIFFE ID, serial or an issuing intermediate's serial) is now revoked, idle or
 *   not, and aborts the in-flight requests of revoked JWT-SVIDs (only their stream: the bearer
 *   authenticates one request, not the connection).
 * - On each new PEP snapshot it aborts the in-flight requests of API keys it revokes and of
 *   principals it blocks, whatever their credential (principalRefusal).
 * The forward stage sees the client go away and aborts the upstream request; `closedBy` tells the
 * audit record why.
 */
export class RevocationEnforcer {
  /** Connections that authenticated with a client SVID, by the SVID they presented. */
  private readonly connections = new Map<Connection, Principal>();
  private readonly inFlight = new Set<RequestContext>();
  private readonly onChange = (): void => this.enforceRevocations();
  private readonly stopSnapshots: () => void;

  constructor(
    private readonly revocations: RevocationList | null,
    snapshots: SnapshotHolder,
  ) {
    revocations?.on('change', this.onChange);
    this.stopSnapshots = snapshots.onUpdate((snapshot) => this.enforceSnapshot(snapshot));
  }

  /** Called once a request is authenticated (and found neither blocked nor revoked). */
  track(ctx: RequestContext): void {
    const p = ctx.principal;
    if (!p) return;
    this.inFlight.add(ctx);
    if (p.method !== 'mtls') return;
    const conn = connectionOf(ctx.req);
    if (!conn || conn.destroyed || this.connections.has(conn)) return;
    this.connections.set(conn, p);
    conn.once('close', () => this.connections.delete(conn));
  }

  /** Called when the request has ended. */
  untrack(ctx: RequestContext): void {
    this.inFlight.delete(ctx);
  }

  /** Stops listening to the revocation list and the snapshots (gateway closed). */
  close(): void {
    this.revocations?.off('change', this.onChange);
    this.stopSnapshots();
    this.connections.clear();
    this.inFlight.clear();
  }

  /** Ends one in-flight request; `closedBy` makes its audit record name the reason. */
  private cut(ctx: RequestContext, code: ErrorCode, endStream: boolean): void {
    this.inFlight.delete(ctx);
    ctx.closedBy = { code, afterHeaders: ctx.res.headersSent };
    if (endStream) cutOff(ctx.res, new WardenError(code));
  }

  private enforceSnapshot(snapshot: PepSnapshot): void {
    const now = Date.now();
    for (const ctx of this.inFlight) {
      const refusal = principalRefusal(snapshot, ctx.principal!, now);
      if (refusal) this.cut(ctx, refusal.code, true);
    }
  }

  private enforceRevocations(): void {
    const list = this.revocations!;
    for (const ctx of this.inFlight) {
      const p = ctx.principal!;
      if (!isWorkload(p) || !list.revokesSvid(p.id, p.serial, p.issuerSerials)) continue;
      // An mTLS request ends with its connection, below.
      this.cut(ctx, 'WARDEN_IDENTITY_REVOKED', p.method === 'jwt-svid');
    }
    for (const [conn, p] of this.connections) {
      if (!list.revokesSvid(p.id, p.serial, p.issuerSerials)) continue;
      this.connections.delete(conn);
      conn.destroy();
    }
  }
}
