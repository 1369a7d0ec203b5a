import { randomBytes } from 'node:crypto';
import { hmacSha256Hex, randomToken, constantTimeEqual } from '../crypto/index.js';
import type { Queryable } from './Database.js';

export const ADMIN_TOKEN_PATTERN = /^wdt_(adm_[0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** 'admin': the whole admin API. 'pep': only the routes a remote gateway needs (DESIGN: least privilege). */
export type AdminTokenRole = 'admin' | 'pep';

export interface AdminTokenInfo {
  id: string;
  name: string;
  role: AdminTokenRole;
  createdAt: Date;
  revokedAt: Date | null;
}

export function newAdminTokenId(): string {
  return `adm_${randomBytes(8).toString('hex')}`;
}

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

  /** `id` (newAdminTokenId) is chosen up front when the token's audit record must name it before it exists. */
  async create(name: string, role: AdminTokenRole = 'admin', id = newAdminTokenId()): Promise<{ id: string; token: string }> {
    const token = `wdt_${id}_${randomToken(32)}`;
    await this.db.query('INSERT INTO admin_tokens (id, hash, name, role) VALUES ($1,$2,$3,$4)', [id, hmacSha256Hex(this.serverSecret, token), name, role]);
    return { id, token };
  }

  /**
   * Removes a token whose secret was never handed to anyone (a start that failed before printing
   * it), so the next start creates and prints a new one instead of leaving no usable token.
   */
  async discard(id: string): Promise<void> {
    await this.db.query('DELETE FROM admin_tokens WHERE id = $1', [id]);
  }

  /**
   * The token's id and role when valid; 'revoked' for the real token of a revoked one (only its
   * holder can learn that: the secret is checked first), so a gateway says why it was refused;
   * otherwise null.
   */
  async verify(token: string): Promise<{ id: string; role: AdminTokenRole } | 'revoked' | null> {
    const m = ADMIN_TOKEN_PATTERN.exec(token);
    if (!m) return null;
    const r = await this.db.query<{ hash: string; role: AdminTokenRole; revoked_at: Date | null }>('SELECT hash, role, revoked_at FROM admin_tokens WHERE id = $1', [m[1]]);
    const row = r.rows[0];
    if (!row || !constantTimeEqual(row.hash, hmacSha256Hex(this.serverSecret, token))) return null;
    return row.revoked_at === null ? { id: m[1]!, role: row.role } : 'revoked';
  }

  async list(role: AdminTokenRole): Promise<AdminTokenInfo[]> {
    const r = await this.db.query<{ id: string; name: string; role: AdminTokenRole; created_at: Date; revoked_at: Date | null }>('SELECT id, name, role, created_at, revoked_at FROM admin_tokens WHERE role = $1 ORDER BY created_at', [role]);
    return r.rows.map((x) => ({ id: x.id, name: x.name, role: x.role, createdAt: new Date(x.created_at), revokedAt: x.revoked_at ? new Date(x.revoked_at) : null }));
  }

  /** Revokes a token of `role`; false when no such active token exists. */
  async revoke(id: string, role: AdminTokenRole): Promise<boolean> {
    const r = await this.db.query('UPDATE admin_tokens SET revoked_at = now() WHERE id = $1 AND role = $2 AND revoked_at IS NULL', [id, role]);
    return (r.rowCount ?? 0) > 0;
  }
}
