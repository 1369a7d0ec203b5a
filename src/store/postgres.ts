import pg from 'pg';
import { WardenError } from '../errors/index.js';
import type { Database, Queryable, QueryResult, SessionLock } from './Database.js';

function wrap(client: pg.Pool | pg.PoolClient): Queryable {
  return {
    async query<T>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<T>> {
      const r = await client.query(sql, params as unknown[]);
      return { rows: r.rows as T[], rowCount: r.rowCount ?? r.rows.length };
    },
  };
}

/** The connection died under a transaction: whatever it had not committed is rolled back by the server. */
function connectionLost(lost: Error, cause: unknown): WardenError {
  // The server's reason (57P01 on shutdown) reaches either the 'error' event or the failed query.
  const sqlState = [lost, cause].map((e) => (e as { code?: unknown } | null)?.code).find((c) => typeof c === 'string' && /^[0-9A-Z]{5}$/.test(c));
  const why = typeof sqlState === 'string' ? ` (SQLSTATE ${sqlState})` : '';
  return new WardenError('WARDEN_STORE_UNAVAILABLE', `the connection to PostgreSQL was lost during a transaction${why}; the transaction did not complete`, { cause });
}

/** pg_advisory_lock on a client of its own; ending that client's session releases the lock. */
async function takeAdvisoryLock(url: string, key: number, held: Set<pg.Client>, onWait?: () => void): Promise<SessionLock> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  // A lost connection means the server already released the lock; the error must not end the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (cause) {
    throw new WardenError('WARDEN_STORE_UNAVAILABLE', 'cannot connect to PostgreSQL (check WARDEN_DATABASE_URL)', { cause });
  }
  held.add(client);
  let released: Promise<void> | null = null;
  const release = () =>
    (released ??= (async () => {
      held.delete(client);
      await client.end().catch(() => undefined);
    })());
  try {
    const tried = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [key]);
    const waited = tried.rows[0]?.ok !== true;
    if (waited) {
      onWait?.();
      await client.query('SELECT pg_advisory_lock($1)', [key]);
    }
    return { waited, release };
  } catch (cause) {
    await release();
    throw new WardenError('WARDEN_STORE_UNAVAILABLE', 'cannot take a PostgreSQL advisory lock', { cause });
  }
}

/** PostgreSQL server store (WARDEN_DATABASE_URL). Fails fast with a clear code when unreachable. */
export async function openPostgres(url: string, poolSize = 10): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: 5000 });
  pool.on('error', () => {
    /* idle client errors surface on the next query */
  });
  try {
    const c = await pool.connect();
    c.release();
  } catch (cause) {
    await pool.end().catch(() => undefined);
    throw new WardenError('WARDEN_STORE_UNAVAILABLE', 'cannot connect to PostgreSQL (check WARDEN_DATABASE_URL)', { cause });
  }
  const base = wrap(pool);
  const locks = new Set<pg.Client>();
  return {
    kind: 'postgres',
    query: base.query,
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      // pg-pool drops its idle 'error' listener from a client it hands out: while the transaction
      // holds the client across awaits, a server restart (57P01) or a dropped socket would be an
      // unhandled 'error' event, which ends the process. Keep the error and fail the transaction.
      let lost: Error | undefined;
      const onError = (err: Error) => {
        lost ??= err;
      };
      client.on('error', onError);
      let discard: Error | undefined;
      try {
        await client.query('BEGIN');
        const result = await fn(wrap(client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        if (lost) throw connectionLost(lost, err);
        // A client whose ROLLBACK fails is in an unknown state: destroyed rather than pooled.
        await client.query('ROLLBACK').catch((e: Error) => {
          discard = e;
        });
        if (lost) throw connectionLost(lost, err);
        throw err;
      } finally {
        client.off('error', onError);
        // release(err) destroys the client, so the next transaction gets a fresh connection.
        client.release(lost ?? discard);
      }
    },
    async exec(sql: string): Promise<void> {
      await pool.query(sql);
    },
    sessionLock: (key: number, onWait?: () => void) => takeAdvisoryLock(url, key, locks, onWait),
    async close(): Promise<void> {
      // A lock its holder never released would keep a connection (and the lock) open past close.
      await Promise.all([...locks].map((c) => c.end().catch(() => undefined)));
      locks.clear();
      await pool.end();
    },
  };
}
