import { randomBytes } from 'node:crypto';
import { hmacSha256Hex, randomToken, constantTimeEqual } from '../crypto/index.js';
import type { Queryable } from './Database.js';

export const ADMIN_TOKEN_PATTERN = /^wdt_(adm_[0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** Admin bearer tokens: `wdt_<id>_<secret>`, stored as HMAC-SHA256 with the server secret. */
export class AdminTokenRepository {
  constructor(
    private readonly db: Queryable,
    private readonly serverSecret: Uint8Array,
  ) {}

  async count(): Promise<number> {
    const r = await this.db.query<{ n: number }>('SELECT count(*)::int AS n FROM admin_tokens WHERE revoked_at IS NULL');
    return r.rows[0]?.n ?? 0;
  }

  async create(name: string): Promise<{ id: string; token: string }> {
    const id = `adm_${randomBytes(8).toString('hex')}`;
    const token = `wdt_${id}_${randomToken(32)}`;
    await this.db.query('INSERT INTO admin_tokens (id, hash, name) VALUES ($1,$2,$3)', [id, hmacSha256Hex(this.serverSecret, token), name]);
    return { id, token };
  }

  /** Returns the token id when valid, otherwise null. */
  async verify(token: string): Promise<string | null> {
    const m = ADMIN_TOKEN_PATTERN.exec(token);
    if (!m) return null;
    const r = await this.db.query<{ hash: string }>('SELECT hash FROM admin_tokens WHERE id = $1 AND revoked_at IS NULL', [m[1]]);
    const row = r.rows[0];
    if (!row) return null;
    return constantTimeEqual(row.hash, hmacSha256Hex(this.serverSecret, token)) ? m[1]! : null;
  }
}
