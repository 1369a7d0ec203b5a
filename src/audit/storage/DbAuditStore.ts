import { WardenError } from '../../errors/index.js';
import type { Database, Queryable } from '../../store/index.js';
import type { SignedCheckpoint } from '../checkpoint/index.js';
import type { AuditRecord } from '../AuditRecord.js';
import { matchesQuery, type AuditEntry, type AuditQuery } from '../AuditQuery.js';
import type { AuditReader, AuditStore, PreparedEntry, RawEntry, ReadOptions } from './AuditStore.js';
import { leafHash } from '../merkle/index.js';

/** Arbitrary constant: serialises audit writers that share one PostgreSQL. */
const AUDIT_LOCK_ID = 0x41554454;
const PAGE = 5000;

interface EntryRow {
  idx: string | number;
  leaf_hash: string;
  entry: string;
}

/** The indexed columns `query` filters on, kept beside each hashed entry. */
interface DerivedColumns {
  /** Milliseconds since the epoch as exact numeric text ("1764471553123.000000"). */
  ts_ms: string | null;
  kind: string | null;
  principal: string | null;
  action: string | null;
  decision: string | null;
}

// round(...)::bigint: extract() is numeric from PostgreSQL 14 on but a float before, which can print as …122.9999.
const DERIVED_COLUMNS = `round(extract(epoch from ts) * 1000)::bigint::text AS ts_ms, kind, principal, action, decision`;

/**
 * Which indexed columns of a row no longer say what its hashed entry says, or null. Queries
 * filter on the columns, so an edited column hides a record from them; only the entry is hashed.
 */
function derivedColumnsMismatch(row: DerivedColumns, entry: string): string | null {
  let record: Partial<Record<keyof AuditRecord, unknown>>;
  try {
    record = JSON.parse(entry) as typeof record;
  } catch {
    return 'the entry is not JSON';
  }
  const differ: string[] = [];
  const ms = typeof record.ts === 'string' ? Date.parse(record.ts) : NaN;
  if (Number.isNaN(ms) || /^(-?[0-9]+)(?:\.0*)?$/.exec(row.ts_ms ?? '')?.[1] !== String(ms)) differ.push('ts');
  if (row.kind !== record.kind) differ.push('kind');
  if (row.principal !== (record.principal ?? null)) differ.push('principal');
  if (row.action !== record.action) differ.push('action');
  if (row.decision !== (record.decision ?? null)) differ.push('decision');
  return differ.length ? `column${differ.length > 1 ? 's' : ''} ${differ.join(', ')} differ${differ.length > 1 ? '' : 's'} from the hashed entry (edited: queries filtering on ${differ.length > 1 ? 'them' : 'it'} miss the record)` : null;
}

/** Server mode: reads `audit_entries` / `audit_checkpoints` (read-only; safe next to a running server). */
export class DbAuditReader implements AuditReader {
  constructor(protected readonly db: Queryable) {}

  async *entries(from = 0): AsyncIterable<RawEntry> {
    for await (const batch of this.batches(from)) yield* batch;
  }

  async *batches(from = 0, options: ReadOptions = {}): AsyncIterable<RawEntry[]> {
    // Rows are keyed by index, so `from` is an index here (an OFFSET scan would be O(n));
    // verify always starts at 0, where positions are row ranks and gaps show up.
    let position = from;
    let after = from - 1;
    const columns = options.checkDerived ? `, ${DERIVED_COLUMNS}` : '';
    for (;;) {
      const r = await this.db.query<EntryRow & Partial<DerivedColumns>>(`SELECT idx, leaf_hash, entry${columns} FROM audit_entries WHERE idx > $1 ORDER BY idx LIMIT $2`, [after, PAGE]);
      const out: RawEntry[] = [];
      for (const row of r.rows) {
        const hashOk = /^[0-9a-f]{64}$/.test(row.leaf_hash);
        const mismatch = options.checkDerived ? derivedColumnsMismatch(row as EntryRow & DerivedColumns, row.entry) : null;
        out.push({
          position,
          index: Number(row.idx),
          storedHash: hashOk ? Buffer.from(row.leaf_hash, 'hex') : null,
          entry: Buffer.from(row.entry, 'utf8'),
          ...(hashOk ? {} : { malformed: 'leaf hash column is not 64 hex characters' }),
          ...(mismatch ? { derivedMismatch: mismatch } : {}),
        });
        position++;
        after = Number(row.idx);
      }
      if (out.length) yield out;
      if (r.rows.length < PAGE) return;
    }
  }

  /**
   * Indexed query over the table's columns; newest first. Each row found is held to the query
   * again by its hashed entry (an edited column must not put a record in the answer), and rows
   * whose columns disagree with their entry are named to `onMismatch`: a record edited out of
   * the columns' reach cannot be found this way, only `verify` (which checks every row) finds it.
   */
  async query(q: AuditQuery, limit: number, onMismatch?: (index: number) => void, size?: number): Promise<AuditEntry[]> {
    const where: string[] = ['idx >= 0'];
    const params: unknown[] = [];
    const add = (sql: string, v: unknown): void => {
      params.push(v);
      where.push(sql.replace('?', `$${params.length}`));
    };
    // Only rows of the log verify checks: 0 <= idx (< the writer's size, when the caller knows it).
    if (size !== undefined) add('idx < ?', size);
    if (q.principal !== undefined) add('principal = ?', q.principal);
    if (q.decision !== undefined) add('decision = ?', q.decision);
    if (q.kind !== undefined) add('kind = ?', q.kind);
    if (q.action !== undefined) add('action = ?', q.action);
    if (q.since) add('ts >= ?', q.since);
    if (q.until) add('ts < ?', q.until);
    params.push(limit);
    const r = await this.db.query<EntryRow & DerivedColumns>(
      `SELECT idx, leaf_hash, entry, ${DERIVED_COLUMNS} FROM audit_entries WHERE ${where.join(' AND ')} ORDER BY idx DESC LIMIT $${params.length}`,
      params,
    );
    const out: AuditEntry[] = [];
    for (const row of r.rows) {
      if (derivedColumnsMismatch(row, row.entry)) onMismatch?.(Number(row.idx));
      let record: AuditRecord;
      try {
        record = JSON.parse(row.entry) as AuditRecord;
      } catch {
        continue; // damaged row: verify reports it
      }
      if (matchesQuery(record, q)) out.push({ index: Number(row.idx), leafHash: row.leaf_hash, record });
    }
    return out;
  }

  async indexesBelowZero(limit: number): Promise<{ indexes: number[]; total: number }> {
    const r = await this.db.query<{ idx: string | number; total: string | number }>(
      'SELECT idx, count(*) OVER () AS total FROM audit_entries WHERE idx < 0 ORDER BY idx DESC LIMIT $1',
      [limit],
    );
    return { indexes: r.rows.map((x) => Number(x.idx)), total: Number(r.rows[0]?.total ?? 0) };
  }

  async isEmpty(): Promise<boolean> {
    const r = await this.db.query<{ any: boolean }>('SELECT (EXISTS (SELECT 1 FROM audit_checkpoints) OR EXISTS (SELECT 1 FROM audit_entries)) AS any');
    return !r.rows[0]?.any;
  }

  async checkpointNotes(): Promise<string[]> {
    return (await this.checkpointRows()).map((x) => x.note);
  }

  /** Notes with the `size` column kept beside each (writers compare it; verify holds it to the note). */
  async checkpointRows(): Promise<{ note: string; size: number }[]> {
    const r = await this.db.query<{ note: string; size: string | number }>('SELECT note, size FROM audit_checkpoints ORDER BY seq');
    return r.rows.map((x) => ({ note: x.note, size: Number(x.size) }));
  }

  async close(): Promise<void> {}
}

/** Serialises writers (replicas) for the rest of the transaction; PGlite has one process, nothing to wait for. */
async function lockWriters(database: Database, tx: Queryable): Promise<void> {
  if (database.kind === 'postgres') await tx.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_LOCK_ID]);
}

/**
 * Leaf hashes of the entries other writers appended from `from` up to `to` (exclusive; null: as
 * many as there are), recomputed from their text and read in pages: a writer's tree (and so its
 * next signed checkpoint) takes only entries that match their stored hash, in order, no gap.
 */
async function othersLeaves(q: Queryable, from: number, to: number | null): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (;;) {
    const at = from + out.length;
    const limit = to === null ? PAGE : Math.min(PAGE, to - at);
    if (limit <= 0) break;
    const r = await q.query<EntryRow>('SELECT idx, leaf_hash, entry FROM audit_entries WHERE idx >= $1 ORDER BY idx LIMIT $2', [at, limit]);
    for (const row of r.rows) {
      const h = leafHash(row.entry);
      if (Number(row.idx) !== from + out.length || row.leaf_hash !== h.toString('hex')) {
        throw new WardenError('WARDEN_AUDIT_TAMPERED', `audit entry ${from + out.length} written by another writer is missing or does not match its hash; run \`warden audit verify\``);
      }
      out.push(h);
    }
    if (r.rows.length < limit) break;
  }
  if (to !== null && out.length !== to - from) throw new WardenError('WARDEN_AUDIT_TAMPERED', `audit entries ${from}..${to - 1} are not all present; run \`warden audit verify\``);
  return out;
}

/**
 * Server-mode writer. Durability is PostgreSQL's commit; one transaction per batch. Several
 * writers (control-plane replicas) may share the table: batches are serialised by an advisory
 * lock, and each catches up on the others' entries (appendEntries) so all extend one log.
 */
export class DbAuditStore extends DbAuditReader implements AuditStore {
  readonly kind = 'database' as const;
  readonly sharedWithOtherWriters: boolean;

  constructor(
    private readonly database: Database,
    private readonly options: { multipleWriters?: boolean } = {},
  ) {
    super(database);
    this.sharedWithOtherWriters = options.multipleWriters === true;
  }

  async appendEntries(batch: readonly PreparedEntry[]): Promise<Buffer[] | void> {
    if (batch.length === 0) return;
    const multiple = this.options.multipleWriters === true;
    try {
      // Most of what the others wrote is read before taking the lock, in pages, so a replica that
      // was idle a long time does not hold every writer up while it reads their entries.
      const early = multiple ? await othersLeaves(this.database, batch[0]!.index, null) : [];
      return await this.database.transaction(async (tx) => {
        // One writer at a time (replicas), so each batch extends the one log that all of them sign.
        await lockWriters(this.database, tx);
        const r = await tx.query<{ next: string | number }>('SELECT COALESCE(MAX(idx) + 1, 0) AS next FROM audit_entries');
        const next = Number(r.rows[0]?.next ?? 0);
        const expected = batch[0]!.index;
        if (next < expected) {
          throw new WardenError('WARDEN_CONFLICT', `audit table holds ${next} entries but this writer has ${expected}: entries were removed; run \`warden audit verify\``);
        }
        if (next > expected && !multiple) {
          throw new WardenError(
            'WARDEN_CONFLICT',
            `audit table holds ${next} entries but this writer expected ${expected}: rows this process did not write. If another control-plane replica uses this database, ` +
              'every replica needs audit.multipleWriters: true (WARDEN_AUDIT_MULTIPLE_WRITERS=true): restart this one with it, as its log stays closed until then; ' +
              'if none does, the rows were added by hand: run `warden audit verify`',
          );
        }
        const others = next > expected + early.length ? early.concat(await othersLeaves(tx, expected + early.length, next)) : early;
        for (let i = 0; i < batch.length; i++) batch[i]!.index = next + i;
        const cols = [[], [], [], [], [], [], [], []] as unknown[][];
        for (const e of batch) {
          cols[0]!.push(e.index);
          cols[1]!.push(e.leafHash.toString('hex'));
          cols[2]!.push(e.json);
          cols[3]!.push(new Date(e.ts).toISOString());
          cols[4]!.push(e.kind);
          cols[5]!.push(e.principal);
          cols[6]!.push(e.action);
          cols[7]!.push(e.decision);
        }
        await tx.query(
          `INSERT INTO audit_entries (idx, leaf_hash, entry, ts, kind, principal, action, decision)
           SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[])`,
          cols,
        );
        return others;
      });
    } catch (cause) {
      if (cause instanceof WardenError) throw cause;
      throw new WardenError('WARDEN_AUDIT_WRITE_FAILED', 'cannot write audit entries to the database', { cause });
    }
  }

  async appendCheckpoint(cp: SignedCheckpoint): Promise<void> {
    try {
      await this.database.transaction(async (tx) => {
        await lockWriters(this.database, tx);
        // Checkpoints only grow: a writer whose tree is behind another's (it caught up at its last
        // batch) has nothing to add over the larger checkpoint already stored, which covers its head.
        const r = await tx.query<{ size: string | number }>('SELECT COALESCE(MAX(size), -1) AS size FROM audit_checkpoints');
        if (Number(r.rows[0]!.size) > cp.size) return;
        await tx.query('INSERT INTO audit_checkpoints (size, note) VALUES ($1, $2)', [cp.size, cp.note]);
      });
    } catch (cause) {
      throw new WardenError('WARDEN_AUDIT_WRITE_FAILED', 'cannot write an audit checkpoint to the database', { cause });
    }
  }
}
