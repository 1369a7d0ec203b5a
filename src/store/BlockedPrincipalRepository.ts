import type { Queryable } from './Database.js';

/** A principal every PEP refuses, whatever credential it authenticates with. */
export interface PrincipalBlock {
  /** Canonical Cedar entity string (`User::"alice"`), as gateways and audit records write it. */
  principal: string;
  blockedAt: Date;
  /** Null: until unblocked. */
  expiresAt: Date | null;
  /** Admin::"…" or Rule::"…". */
  blockedBy: string;
  reason: string | null;
  incidentId: string | null;
}

export interface BlockInput {
  principal: string;
  expiresAt: Date | null;
  blockedBy: string;
  reason?: string | null;
  incidentId?: string | null;
}

interface Row {
  principal: string;
  blocked_at: Date;
  expires_at: Date | null;
  blocked_by: string;
  reason: string | null;
  incident_id: string | null;
}

function toBlock(r: Row): PrincipalBlock {
  return { principal: r.principal, blockedAt: new Date(r.blocked_at), expiresAt: r.expires_at ? new Date(r.expires_at) : null, blockedBy: r.blocked_by, reason: r.reason, incidentId: r.incident_id };
}

/** Blocked principals (control-plane state; the PEP snapshot carries the active ones). */
export class BlockedPrincipalRepository {
  constructor(private readonly db: Queryable) {}

  /**
   * Blocks `principal` from `now`. A block already in force that lasts at least as long is kept
   * (changed: false), so a repeated or shorter block never shortens containment; an expired one,
   * or one ending sooner, is replaced.
   */
  async block(input: BlockInput, now = new Date()): Promise<{ block: PrincipalBlock; changed: boolean }> {
    const r = await this.db.query<Row>(
      `INSERT INTO blocked_principals AS b (principal, blocked_at, expires_at, blocked_by, reason, incident_id)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (principal) DO UPDATE SET blocked_at = EXCLUDED.blocked_at, expires_at = EXCLUDED.expires_at,
         blocked_by = EXCLUDED.blocked_by, reason = EXCLUDED.reason, incident_id = EXCLUDED.incident_id
       WHERE b.expires_at IS NOT NULL AND (b.expires_at <= $2 OR EXCLUDED.expires_at IS NULL OR b.expires_at < EXCLUDED.expires_at)
       RETURNING *`,
      [input.principal, now, input.expiresAt, input.blockedBy, input.reason ?? null, input.incidentId ?? null],
    );
    if (r.rows[0]) return { block: toBlock(r.rows[0]), changed: true };
    return { block: (await this.find(input.principal))!, changed: false };
  }

  /** The block of `principal` (in force or expired), or null. */
  async find(principal: string): Promise<PrincipalBlock | null> {
    const r = await this.db.query<Row>('SELECT * FROM blocked_principals WHERE principal = $1', [principal]);
    return r.rows[0] ? toBlock(r.rows[0]) : null;
  }

  /**
   * Lifts the block of `principal`; with `blockedAt`, only the block made then (a compensating
   * undo must not lift a block someone else made or extended meanwhile). The lifted block, or null.
   */
  async unblock(principal: string, blockedAt?: Date): Promise<PrincipalBlock | null> {
    const r = blockedAt
      ? await this.db.query<Row>('DELETE FROM blocked_principals WHERE principal = $1 AND blocked_at = $2 RETURNING *', [principal, blockedAt])
      : await this.db.query<Row>('DELETE FROM blocked_principals WHERE principal = $1 RETURNING *', [principal]);
    return r.rows[0] ? toBlock(r.rows[0]) : null;
  }

  /**
   * Puts back `previous` (the block in force before a run replaced it) if the block now in force
   * is still the one made at `replacedAt`: a compensating undo must not lift a block that an
   * operator had made before the run. True when restored.
   */
  async restore(previous: PrincipalBlock, replacedAt: Date): Promise<boolean> {
    const r = await this.db.query(
      'UPDATE blocked_principals SET blocked_at = $3, expires_at = $4, blocked_by = $5, reason = $6, incident_id = $7 WHERE principal = $1 AND blocked_at = $2',
      [previous.principal, replacedAt, previous.blockedAt, previous.expiresAt, previous.blockedBy, previous.reason, previous.incidentId],
    );
    return (r.rowCount ?? 0) > 0;
  }

  /** Blocks in force at `now`. */
  async active(now = new Date()): Promise<PrincipalBlock[]> {
    const r = await this.db.query<Row>('SELECT * FROM blocked_principals WHERE expires_at IS NULL OR expires_at > $1 ORDER BY blocked_at, principal', [now]);
    return r.rows.map(toBlock);
  }
}
