import { PGlite } from '@electric-sql/pglite';
import { WardenError } from '../errors/index.js';
import type { Database, Queryable, QueryResult, SessionLock } from './Database.js';

function wrap(q: { query: PGlite['query'] }): Queryable {
  return {
    async query<T>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<T>> {
      const r = await q.query<T>(sql, params as unknown[]);
      return { rows: r.rows, rowCount: r.affectedRows || r.rows.length };
    },
  };
}

/** Embedded PostgreSQL (PGlite, WASM) stored in `dir`, or in memory when `dir` is undefined. */
export async function openPglite(dir?: string): Promise<Database> {
  let db: PGlite;
  try {
    db = dir ? await PGlite.create(dir) : await PGlite.create();
  } catch (cause) {
    throw new WardenError('WARDEN_STORE_UNAVAILABLE', `cannot open embedded database${dir ? ` in ${dir}` : ''}`, { cause });
  }
  const base = wrap(db);
  // One process owns a PGlite database, so its session locks are in-process: a chain per key.
  const lockTails = new Map<number, Promise<void>>();
  // PGlite runs one statement at a time; transactions serialise through its own lock.
  return {
    kind: 'pglite',
    query: base.query,
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      return db.transaction(async (tx) => fn(wrap(tx)));
    },
    async exec(sql: string): Promise<void> {
      await db.exec(sql);
    },
    async sessionLock(key: number, onWait?: () => void): Promise<SessionLock> {
      const before = lockTails.get(key);
      let release!: () => void;
      const mine = new Promise<void>((r) => (release = r));
      const tail = (before ?? Promise.resolve()).then(() => mine);
      lockTails.set(key, tail);
      // A key's entry is dropped when its last holder releases, so one left means a holder or a waiter.
      const waited = before !== undefined;
      if (waited) onWait?.();
      await before;
      return {
        waited,
        release: async () => {
          release();
          if (lockTails.get(key) === tail) lockTails.delete(key);
        },
      };
    },
    async close(): Promise<void> {
      await db.close();
    },
  };
}
