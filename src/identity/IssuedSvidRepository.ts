import type { Queryable } from '../store/index.js';

export interface IssuedSvidRecord {
  serial: string;
  spiffeId: string;
  kind: 'x509' | 'server';
  notBefore: Date;
  notAfter: Date;
}

interface Row {
  serial: string;
  spiffe_id: string;
  kind: 'x509' | 'server';
  not_before: Date;
  not_after: Date;
  issued_at: Date;
}

/**
 * Issued certificates (serial, SPIFFE ID, validity): the inventory behind `identity list`
 * and the CRL for ID-wide revocations. Inserts are group-committed — a fleet scaling out asks
 * for hundreds of SVIDs a second and one multi-row INSERT per tick keeps the database off the
 * critical path; `record()` still resolves only once its row is durable.
 */
export class IssuedSvidRepository {
  private pending: { record: IssuedSvidRecord; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private flushing: Promise<void> | null = null;

  constructor(private readonly db: Queryable) {}

  record(record: IssuedSvidRecord): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ record, resolve, reject });
      if (!this.flushing) this.flushing = new Promise<void>((r) => setImmediate(r)).then(() => this.flushLoop());
    });
  }

  private async flushLoop(): Promise<void> {
    while (this.pending.length) {
      const batch = this.pending.splice(0, 500);
      const params: unknown[] = [];
      const values = batch.map(({ record: r }, i) => {
        params.push(r.serial, r.spiffeId, r.kind, r.notBefore, r.notAfter);
        const b = i * 5;
        return `($${b + 1},$${b + 2},$${b + 3},$${b + 4},$${b + 5})`;
      });
      try {
        await this.db.query(`INSERT INTO identity_svids (serial, spiffe_id, kind, not_before, not_after) VALUES ${values.join(',')} ON CONFLICT (serial) DO NOTHING`, params);
        for (const p of batch) p.resolve();
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
    this.flushing = null;
  }

  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  async list(options: { spiffeId?: string; includeExpired?: boolean; limit?: number; now?: Date } = {}): Promise<(IssuedSvidRecord & { issuedAt: Date })[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (options.spiffeId) {
      params.push(options.spiffeId);
      where.push(`spiffe_id = $${params.length}`);
    }
    if (!options.includeExpired) {
      params.push(options.now ?? new Date());
      where.push(`not_after > $${params.length}`);
    }
    params.push(Math.min(Math.max(options.limit ?? 1000, 1), 10_000));
    const r = await this.db.query<Row>(
      `SELECT * FROM identity_svids ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY issued_at DESC, serial LIMIT $${params.length}`,
      params,
    );
    return r.rows.map((row) => ({
      serial: row.serial,
      spiffeId: row.spiffe_id,
      kind: row.kind,
      notBefore: new Date(row.not_before),
      notAfter: new Date(row.not_after),
      issuedAt: new Date(row.issued_at),
    }));
  }

  /** Unexpired serials of one SPIFFE ID (for the CRL when the whole ID is revoked). */
  async activeSerialsOf(spiffeIds: string[], now = new Date()): Promise<{ serial: string; notAfter: Date }[]> {
    if (spiffeIds.length === 0) return [];
    const r = await this.db.query<{ serial: string; not_after: Date }>(
      'SELECT serial, not_after FROM identity_svids WHERE spiffe_id = ANY($1::text[]) AND not_after > $2',
      [spiffeIds, now],
    );
    return r.rows.map((row) => ({ serial: row.serial, notAfter: new Date(row.not_after) }));
  }

  /**
   * Forgets certificates that expired before `expiredBefore`: they authenticate nothing any more,
   * and revocations live in their own table, so no revocation is lost (the CRL lists only
   * unexpired serials). Returns how many records were deleted.
   */
  async prune(expiredBefore: Date): Promise<number> {
    const r = await this.db.query('DELETE FROM identity_svids WHERE not_after < $1', [expiredBefore]);
    return r.rowCount;
  }

  async find(serial: string): Promise<IssuedSvidRecord | null> {
    const r = await this.db.query<Row>('SELECT * FROM identity_svids WHERE serial = $1', [serial]);
    const row = r.rows[0];
    return row ? { serial: row.serial, spiffeId: row.spiffe_id, kind: row.kind, notBefore: new Date(row.not_before), notAfter: new Date(row.not_after) } : null;
  }
}
