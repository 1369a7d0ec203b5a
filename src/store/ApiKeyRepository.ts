import { randomBytes } from 'node:crypto';
import { WardenError } from '../errors/index.js';
import { hmacSha256Hex, randomToken } from '../crypto/index.js';
import type { Database, Queryable } from './Database.js';

export interface ApiKeyRecord {
  id: string;
  prefix: string;
  name: string;
  principal: string;
  scopes: string[];
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

/** What a PEP needs to verify a key without the database: never the key itself. */
export interface ApiKeyVerifier extends ApiKeyRecord {
  hash: string;
}

export interface CreateApiKeyInput {
  name: string;
  /** Cedar principal the key acts as, e.g. ApiKey::"demo" or User::"alice". */
  principal?: string;
  scopes?: string[];
  /** Lifetime in seconds; undefined = no expiry. */
  ttlSeconds?: number;
  now?: Date;
  /** Chosen up front (newApiKeyId) when the key's audit record must name it before it exists. */
  id?: string;
}

export function newApiKeyId(): string {
  return `key_${randomBytes(8).toString('hex')}`;
}

interface Row {
  id: string;
  prefix: string;
  hash: string;
  name: string;
  principal: string;
  scopes: string[];
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

/** Keys look like `wdn_<prefix>_<secret>`: the prefix finds the record, the HMAC proves the secret. */
export const API_KEY_PATTERN = /^wdn_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

export function parseApiKey(key: string): { prefix: string } | null {
  const m = API_KEY_PATTERN.exec(key);
  return m ? { prefix: m[1]! } : null;
}

export function hashApiKey(serverSecret: Uint8Array, key: string): string {
  return hmacSha256Hex(serverSecret, key);
}

/**
 * A value that tells whether two processes hold the same server secret without revealing it (an
 * HMAC of a fixed label): a remote gateway with another secret would hash every API key
 * differently and refuse them all as invalid.
 */
export function serverSecretCheck(serverSecret: Uint8Array): string {
  return hmacSha256Hex(serverSecret, 'warden server secret check v1').slice(0, 32);
}

function toRecord(r: Row): ApiKeyVerifier {
  return {
    id: r.id,
    prefix: r.prefix,
    hash: r.hash,
    name: r.name,
    principal: r.principal,
    scopes: r.scopes,
    createdAt: new Date(r.created_at),
    expiresAt: r.expires_at ? new Date(r.expires_at) : null,
    revokedAt: r.revoked_at ? new Date(r.revoked_at) : null,
    lastUsedAt: r.last_used_at ? new Date(r.last_used_at) : null,
  };
}

export function publicRecord(v: ApiKeyVerifier): ApiKeyRecord {
  const { hash: _hash, ...rest } = v;
  return rest;
}

const NAME_PATTERN = /^[A-Za-z0-9._:@-]{1,64}$/;

/** Not revoked and not expired at `now` (epoch ms): a key that grants and authenticates. */
export function isActiveKey(k: Pick<ApiKeyRecord, 'revokedAt' | 'expiresAt'>, now: number): boolean {
  return !k.revokedAt && (!k.expiresAt || k.expiresAt.getTime() > now);
}

/** The Cedar principal a key acts as: the one given, else `ApiKey::"<name>"`. */
export function keyPrincipal(input: { name: string; principal?: string | undefined }): string {
  return input.principal ?? `ApiKey::"${input.name}"`;
}

export class ApiKeyRepository {
  constructor(
    private readonly db: Queryable,
    private readonly serverSecret: Uint8Array,
  ) {}

  /** Creates a key. The plaintext is returned once and only its HMAC is stored. */
  async create(input: CreateApiKeyInput): Promise<{ record: ApiKeyRecord; key: string }> {
    if (!NAME_PATTERN.test(input.name)) {
      throw new WardenError('WARDEN_INPUT_INVALID', 'key name must be 1-64 characters of A-Z a-z 0-9 . _ : @ -');
    }
    if (input.ttlSeconds !== undefined && (!Number.isFinite(input.ttlSeconds) || input.ttlSeconds <= 0)) {
      throw new WardenError('WARDEN_INPUT_INVALID', 'ttl must be a positive number of seconds');
    }
    const now = input.now ?? new Date();
    const prefix = randomBytes(9).toString('base64url').toLowerCase().replace(/[^a-z0-9]/g, '0').slice(0, 12);
    const key = `wdn_${prefix}_${randomToken(32)}`;
    const id = input.id ?? newApiKeyId();
    const principal = keyPrincipal(input);
    const expiresAt = input.ttlSeconds ? new Date(now.getTime() + input.ttlSeconds * 1000) : null;
    const insert = async (q: Queryable): Promise<{ record: ApiKeyRecord; key: string }> => {
      // Creates of one name are serialised (other control-plane replicas too): the check below
      // and the insert would otherwise race, and two active keys of one name would share
      // ApiKey::"<name>", and with it each other's model scopes.
      await q.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`api_keys:${input.name}`]);
      // Names identify keys in `revoke`: one active key per name, and no name that is another key's id or prefix.
      const taken = await q.query<{ active: boolean; other: boolean }>(
        `SELECT (name = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)) AS active, (id = $1 OR prefix = $1) AS other
         FROM api_keys WHERE name = $1 OR id = $1 OR prefix = $1`,
        [input.name, now],
      );
      if (taken.rows.some((r) => r.active)) throw new WardenError('WARDEN_CONFLICT', `an active key is already named ${JSON.stringify(input.name)}; revoke it first or choose another name`);
      if (taken.rows.some((r) => r.other)) throw new WardenError('WARDEN_CONFLICT', 'that name is the id or prefix of another key; choose another name');
      try {
        const r = await q.query<Row>(
          `INSERT INTO api_keys (id, prefix, hash, name, principal, scopes, created_at, expires_at)
           VALUES ($1,$2,$3,$4,$5,$6::jsonb,$7,$8) RETURNING *`,
          [id, prefix, hashApiKey(this.serverSecret, key), input.name, principal, JSON.stringify(input.scopes ?? []), now, expiresAt],
        );
        return { record: publicRecord(toRecord(r.rows[0]!)), key };
      } catch (cause) {
        throw new WardenError('WARDEN_CONFLICT', 'could not create key', { cause });
      }
    };
    return isDatabase(this.db) ? this.db.transaction(insert) : insert(this.db);
  }

  async list(): Promise<ApiKeyRecord[]> {
    const r = await this.db.query<Row>('SELECT * FROM api_keys ORDER BY created_at, id');
    return r.rows.map((row) => publicRecord(toRecord(row)));
  }

  /** Everything a PEP snapshot needs (hashes included); never leaves the control plane unauthenticated. */
  async listVerifiers(): Promise<ApiKeyVerifier[]> {
    const r = await this.db.query<Row>('SELECT * FROM api_keys ORDER BY created_at, id');
    return r.rows.map(toRecord);
  }

  /**
   * The one key an argument names: its id, else its prefix, else the active key of that name,
   * else the newest key of that name (so revoking twice answers the same). Several active keys
   * of one name (created before names were unique) are ambiguous: WARDEN_CONFLICT, use the id.
   */
  async find(idOrPrefixOrName: string, now = new Date()): Promise<ApiKeyRecord | null> {
    const r = await this.db.query<Row>('SELECT * FROM api_keys WHERE id = $1 OR prefix = $1 OR name = $1 ORDER BY created_at DESC, id', [idOrPrefixOrName]);
    const rows = r.rows.map(toRecord);
    const byName = rows.filter((k) => k.name === idOrPrefixOrName);
    const active = byName.filter((k) => isActiveKey(k, now.getTime()));
    if (active.length > 1 && !rows.some((k) => k.id === idOrPrefixOrName || k.prefix === idOrPrefixOrName)) {
      throw new WardenError('WARDEN_CONFLICT', `${active.length} active keys are named ${JSON.stringify(idOrPrefixOrName)}; name one by its id`);
    }
    const found = rows.find((k) => k.id === idOrPrefixOrName) ?? rows.find((k) => k.prefix === idOrPrefixOrName) ?? active[0] ?? byName[0];
    return found ? publicRecord(found) : null;
  }

  /** Removes a key whose secret was never handed out (a failed start, see AdminTokenRepository.discard). */
  async discard(id: string): Promise<void> {
    await this.db.query('DELETE FROM api_keys WHERE id = $1', [id]);
  }

  /** Revokes the one key `find` names. Idempotent: revoking twice keeps the first time. */
  async revoke(idOrPrefixOrName: string, now = new Date()): Promise<ApiKeyRecord> {
    const key = await this.find(idOrPrefixOrName, now);
    if (!key) throw new WardenError('WARDEN_NOT_FOUND', `no API key ${JSON.stringify(idOrPrefixOrName)}`);
    const r = await this.db.query<Row>('UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING *', [key.id, now]);
    return publicRecord(toRecord(r.rows[0]!));
  }
}

function isDatabase(q: Queryable): q is Database {
  return typeof (q as Partial<Database>).transaction === 'function';
}
