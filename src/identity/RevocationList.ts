import { EventEmitter } from 'node:events';
import { CHANGES_CHANNEL, type Queryable } from '../store/index.js';
import { WardenError } from '../errors/index.js';
import { nodeCertificatesFromPem, normalizeSerial } from './x509.js';
import { parseSpiffeId } from './SpiffeId.js';

export interface RevocationEntry {
  kind: 'spiffe_id' | 'serial';
  /** SPIFFE ID, or certificate serial (lowercase hex, no leading zeros). */
  value: string;
  reason: string | null;
  revokedBy: string | null;
  revokedAt: string;
  /**
   * A serial's certificate expiry (null = never forgotten). The entry is kept
   * REVOCATION_KEPT_AFTER_EXPIRY_MS longer: verifiers accept a certificate until its expiry plus
   * their clock skew.
   */
  expiresAt: string | null;
}

/**
 * The largest clock skew any Warden verifier accepts past a certificate's notAfter
 * (identity.clockSkewSeconds, at most 600; gateway.clockSkewSeconds, at most 300).
 */
const MAX_ACCEPTED_CLOCK_SKEW_MS = 600_000;
/**
 * How long a serial revocation outlives its certificate: the largest accepted skew plus a minute
 * for clocks. Forgotten sooner, a revoked certificate would verify again in that window (and
 * could renew itself into a fresh SVID).
 */
export const REVOCATION_KEPT_AFTER_EXPIRY_MS = MAX_ACCEPTED_CLOCK_SKEW_MS + 60_000;

export interface RevocationSnapshot {
  version: number;
  entries: RevocationEntry[];
}

interface Row {
  kind: 'spiffe_id' | 'serial';
  value: string;
  reason: string | null;
  revoked_by: string | null;
  revoked_at: Date;
  expires_at: Date | null;
}

/**
 * Revoked SPIFFE IDs and serials: two Sets for O(1) checks on every TLS handshake and request,
 * backed by the database on the control plane (or fed from the revocation stream on PEPs and
 * agents). Emits 'change' (RevocationEntry[]) whenever something is added.
 */
export class RevocationList extends EventEmitter {
  private readonly serials = new Set<string>();
  private readonly ids = new Set<string>();
  private readonly byKey = new Map<string, RevocationEntry>();
  private _version = 0;

  /**
   * `announce`: a PostgreSQL store shared by several control-plane replicas. Each revocation then
   * sends a `revocations` change notice in its own INSERT statement, so it is delivered at that
   * commit and never before the row is visible (see store/changeNotices.ts).
   */
  constructor(
    private readonly db?: Queryable,
    private readonly options: { announce?: boolean } = {},
  ) {
    super();
    this.setMaxListeners(0);
  }

  get version(): number {
    return this._version;
  }

  get size(): number {
    return this.byKey.size;
  }

  /** Loads the persisted list (control plane). */
  async load(): Promise<void> {
    if (!this.db) return;
    const r = await this.db.query<Row>('SELECT * FROM identity_revocations ORDER BY revoked_at, kind, value');
    this.replace(r.rows.map(fromRow), this._version + 1);
  }

  /**
   * Adds what other control-plane replicas revoked since the last read. A merge, not a
   * replace: a revocation this replica made while the read ran is kept, and only entries not yet
   * known are applied, so 'change' (and every stream) carries each new entry once. Serials prune()
   * would drop are skipped. Returns how many entries were new.
   */
  async refresh(now = new Date()): Promise<number> {
    if (!this.db) return 0;
    const r = await this.db.query<Row>('SELECT * FROM identity_revocations WHERE expires_at IS NULL OR expires_at >= $1 ORDER BY revoked_at, kind, value', [forgottenBefore(now)]);
    const before = this.byKey.size;
    this.apply(r.rows.map(fromRow), this._version);
    return this.byKey.size - before;
  }

  isRevoked(spiffeId: string | undefined, serial: string | undefined): boolean {
    return (spiffeId !== undefined && this.ids.has(spiffeId)) || (serial !== undefined && this.serials.has(normalizeSerial(serial)));
  }

  /**
   * Whether an X.509-SVID that verified earlier is revoked now: its SPIFFE ID, its serial or the
   * serial of an intermediate on its path (connections outlive the check made at verification).
   */
  revokesSvid(spiffeId: string, serial: string | undefined, issuerSerials: readonly string[] | undefined): boolean {
    return this.isRevoked(spiffeId, serial) || (issuerSerials?.some((s) => this.serials.has(normalizeSerial(s))) ?? false);
  }

  /** revokesSvid for an SVID held as its chain (PEM, leaf first): an agent's or a gateway's own. Parses the chain: not for a hot path. */
  revokesChain(spiffeId: string, chainPem: string): boolean {
    const [leaf, ...issuers] = nodeCertificatesFromPem(chainPem);
    return this.revokesSvid(spiffeId, leaf?.serialNumber, issuers.map((c) => c.serialNumber));
  }

  hasSpiffeId(spiffeId: string): boolean {
    return this.ids.has(spiffeId);
  }

  hasSerial(serial: string): boolean {
    return this.serials.has(normalizeSerial(serial));
  }

  entries(): RevocationEntry[] {
    return [...this.byKey.values()];
  }

  snapshot(): RevocationSnapshot {
    return { version: this._version, entries: this.entries() };
  }

  /** Persists (when DB-backed) and applies a revocation. Idempotent: re-revoking keeps the first record. */
  async add(input: { kind: 'spiffe_id' | 'serial'; value: string; reason?: string; by?: string; expiresAt?: Date | null }): Promise<RevocationEntry> {
    const value = input.kind === 'serial' ? normalizeSerial(input.value) : parseSpiffeId(input.value).id;
    if (input.kind === 'serial' && !/^[0-9a-f]{1,40}$/.test(value)) throw new WardenError('WARDEN_INPUT_INVALID', 'serial must be hex (at most 20 bytes)');
    const reason = input.reason ? input.reason.slice(0, 256) : null;
    let entry: RevocationEntry;
    if (this.db) {
      const insert = `INSERT INTO identity_revocations (kind, value, reason, revoked_by, expires_at) VALUES ($1,$2,$3,$4,$5)
         ON CONFLICT (kind, value) DO UPDATE SET kind = EXCLUDED.kind RETURNING *`;
      const r = await this.db.query<Row>(
        this.options.announce ? `WITH added AS (${insert}) SELECT added.*, pg_notify('${CHANGES_CHANNEL}', 'revocations') AS notified FROM added` : insert,
        [input.kind, value, reason, input.by ?? null, input.expiresAt ?? null],
      );
      entry = fromRow(r.rows[0]!);
    } else {
      entry = this.byKey.get(`${input.kind}:${value}`) ?? {
        kind: input.kind,
        value,
        reason,
        revokedBy: input.by ?? null,
        revokedAt: new Date().toISOString(),
        expiresAt: input.expiresAt ? input.expiresAt.toISOString() : null,
      };
    }
    this.apply([entry], this._version + 1);
    return entry;
  }

  /** Applies entries received from the control plane (PEP / agent side). */
  apply(entries: RevocationEntry[], version: number): void {
    const added: RevocationEntry[] = [];
    for (const e of entries) {
      const key = `${e.kind}:${e.value}`;
      if (this.byKey.has(key)) continue;
      this.byKey.set(key, e);
      (e.kind === 'serial' ? this.serials : this.ids).add(e.kind === 'serial' ? normalizeSerial(e.value) : e.value);
      added.push(e);
    }
    this._version = Math.max(this._version + (added.length ? 1 : 0), version);
    if (added.length) this.emit('change', added);
  }

  /** Replaces the whole list with a snapshot (used on (re)connect of a stream). */
  replace(entries: RevocationEntry[], version: number): void {
    this.serials.clear();
    this.ids.clear();
    this.byKey.clear();
    this._version = version - 1;
    this.apply(entries, version);
    this._version = version;
  }

  /**
   * Drops serial entries whose certificate expired more than REVOCATION_KEPT_AFTER_EXPIRY_MS ago
   * (keeps the list and CRL small). PEPs and agents never prune: each (re)connect replaces their
   * list with the control plane's, so they follow this rule.
   */
  async prune(now = new Date()): Promise<number> {
    const before = forgottenBefore(now);
    let removed = 0;
    for (const [key, e] of this.byKey) {
      if (e.expiresAt && new Date(e.expiresAt) < before) {
        this.byKey.delete(key);
        (e.kind === 'serial' ? this.serials : this.ids).delete(e.value);
        removed++;
      }
    }
    if (this.db) await this.db.query('DELETE FROM identity_revocations WHERE expires_at IS NOT NULL AND expires_at < $1', [before]);
    return removed;
  }
}

/** Entries whose certificate expired before this may be forgotten. */
function forgottenBefore(now: Date): Date {
  return new Date(now.getTime() - REVOCATION_KEPT_AFTER_EXPIRY_MS);
}

function fromRow(r: Row): RevocationEntry {
  return {
    kind: r.kind,
    value: r.value,
    reason: r.reason,
    revokedBy: r.revoked_by,
    revokedAt: new Date(r.revoked_at).toISOString(),
    expiresAt: r.expires_at ? new Date(r.expires_at).toISOString() : null,
  };
}
