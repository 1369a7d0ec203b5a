import pg from 'pg';
import { WardenError } from '../errors/index.js';
import type { Database, Queryable, QueryResult } from './Database.js';

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
    async close(): Promise<void> {
      await pool.end();
    },
  };
}
