import { randomBytes } from 'node:crypto';
import type { Queryable } from '../store/index.js';
import { WardenError } from '../errors/index.js';
import { randomToken, sha256Hex } from '../crypto/index.js';
import { parseSpiffeId } from './SpiffeId.js';

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
    const id = parseSpiffeId(input.spiffeId);
    if (id.trustDomain !== this.trustDomain) throw new WardenError('WARDEN_IDENTITY_TRUST_DOMAIN_MISMATCH', `${id.id} is not in trust domain ${this.trustDomain}`);
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

  /** Consumes a token; returns its SPIFFE ID. Throws JOIN_TOKEN_USED / JOIN_TOKEN_INVALID. */
  async consume(token: string, now = new Date()): Promise<{ id: string; spiffeId: string }> {
    if (typeof token !== 'string' || !TOKEN_PATTERN.test(token)) throw new WardenError('WARDEN_IDENTITY_JOIN_TOKEN_INVALID', 'malformed join token');
    const hash = sha256Hex(token);
    const r = await this.db.query<{ id: string; spiffe_id: string }>(
      'UPDATE identity_join_tokens SET used_at = $2 WHERE hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING id, spiffe_id',
      [hash, now],
    );
    if (r.rows[0]) return { id: r.rows[0].id, spiffeId: r.rows[0].spiffe_id };
    const seen = await this.db.query<{ used_at: Date | null }>('SELECT used_at FROM identity_join_tokens WHERE hash = $1', [hash]);
    if (seen.rows[0]?.used_at) throw new WardenError('WARDEN_IDENTITY_JOIN_TOKEN_USED', 'this join token has already been used');
    throw new WardenError('WARDEN_IDENTITY_JOIN_TOKEN_INVALID', 'unknown or expired join token');
  }
}
