import { randomBytes } from 'node:crypto';
import type { Queryable } from '../store/index.js';
import { WardenError } from '../errors/index.js';
import { randomToken, sha256Hex } from '../crypto/index.js';
import { parseWorkloadSpiffeId } from './parseWorkloadSpiffeId.js';

export interface JoinTokenRecord {
  id: string;
  spiffeId: string;
  expiresAt: string;
  usedAt: string | null;
  createdAt: string;
}

const TOKEN_PATTERN = /^wjt_[A-Za-z0-9_-]{43}$/;

/**
 * One-time join tokens. Only the SHA-256 of a token is stored (the token has 256 bits of
 * entropy, so a plain hash cannot be brute-forced); consumption is a single conditional
 * UPDATE, so two agents racing with the same token cannot both win.
 */
export class JoinTokenRepository {
  constructor(
    private readonly db: Queryable,
    private readonly trustDomain: string,
  ) {}

  async create(input: { spiffeId: string; ttlSeconds: number; by?: string; now?: Date }): Promise<{ token: string; record: JoinTokenRecord }> {
    const id = parseWorkloadSpiffeId(input.spiffeId, this.trustDomain);
    if (!Number.isInteger(input.ttlSeconds) || input.ttlSeconds < 10 || input.ttlSeconds > 30 * 86400) {
      throw new WardenError('WARDEN_IDENTITY_TTL_INVALID', 'join token ttl must be 10..2592000 seconds');
    }
    const token = `wjt_${randomToken(32)}`;
    const now = input.now ?? new Date();
    const expiresAt = new Date(now.getTime() + input.ttlSeconds * 1000);
    const rid = `jt_${randomBytes(8).toString('hex')}`;
    await this.db.query('INSERT INTO identity_join_tokens (id, hash, spiffe_id, expires_at, created_at, created_by) VALUES ($1,$2,$3,$4,$5,$6)', [
      rid,
      sha256Hex(token),
      id.id,
      expiresAt,
      now,
      input.by ?? null,
    ]);
    return { token, record: { id: rid, spiffeId: id.id, expiresAt: expiresAt.toISOString(), usedAt: null, createdAt: now.toISOString() } };
  }

  /**
   * The SPIFFE ID a still-usable token is for, without using it up: attestation checks everything
   * it can against it first, so a request that would fail anyway does not burn the token.
   * Throws JOIN_TOKEN_USED / JOIN_TOKEN_INVALID as `consume` does.
   */
  async peek(token: string, now = new Date()): Promise<{ id: string; spiffeId: string }> {
    const hash = hashOf(token);
    const r = await this.db.query<{ id: string; spiffe_id: string; used_at: Date | null; expires_at: Date }>('SELECT id, spiffe_id, used_at, expires_at FROM identity_join_tokens WHERE hash = $1', [hash]);
    const row = r.rows[0];
    if (row?.used_at) throw used();
    if (!row || new Date(row.expires_at).getTime() <= now.getTime()) throw unknownOrExpired();
    return { id: row.id, spiffeId: row.spiffe_id };
  }

  /** Consumes a token; returns its SPIFFE ID. Throws JOIN_TOKEN_USED / JOIN_TOKEN_INVALID. */
  async consume(token: string, now = new Date()): Promise<{ id: string; spiffeId: string }> {
    const hash = hashOf(token);
    const r = await this.db.query<{ id: string; spiffe_id: string }>(
      'UPDATE identity_join_tokens SET used_at = $2 WHERE hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING id, spiffe_id',
      [hash, now],
    );
    if (r.rows[0]) return { id: r.rows[0].id, spiffeId: r.rows[0].spiffe_id };
    const seen = await this.db.query<{ used_at: Date | null }>('SELECT used_at FROM identity_join_tokens WHERE hash = $1', [hash]);
    if (seen.rows[0]?.used_at) throw used();
    throw unknownOrExpired();
  }
}

function hashOf(token: string): string {
  if (typeof token !== 'string' || !TOKEN_PATTERN.test(token)) throw new WardenError('WARDEN_IDENTITY_JOIN_TOKEN_INVALID', 'malformed join token');
  return sha256Hex(token);
}

function used(): WardenError {
  return new WardenError('WARDEN_IDENTITY_JOIN_TOKEN_USED', 'this join token has already been used');
}

function unknownOrExpired(): WardenError {
  return new WardenError('WARDEN_IDENTITY_JOIN_TOKEN_INVALID', 'unknown or expired join token');
}
