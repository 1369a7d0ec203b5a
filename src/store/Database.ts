/** The one SQL dialect Warden speaks is PostgreSQL's; PGlite (embedded) and pg (server) both run it. */
export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>>;
}

/** A lock taken with `Database.sessionLock`; held until `release()` (idempotent) or the store closes. */
export interface SessionLock {
  /** True when another holder had it at first and this one waited for it. */
  readonly waited: boolean;
  release(): Promise<void>;
}

export interface Database extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /** Runs `fn` in one transaction: all of it commits or none of it does. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Runs a script of several statements (migrations). */
  exec(sql: string): Promise<void>;
  /**
   * Takes a lock every process on this database shares (PostgreSQL advisory lock `key`), held
   * across transactions until released: for work that one replica must finish before another
   * looks. It lives on a connection of its own, outside the pool, so a holder that dies releases
   * it when its session ends and a long hold never starves the pool. `onWait` is called before
   * waiting when another holder has it.
   */
  sessionLock(key: number, onWait?: () => void): Promise<SessionLock>;
  close(): Promise<void>;
}
