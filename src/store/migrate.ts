import { WardenError } from '../errors/index.js';
import type { Database } from './Database.js';
import { allMigrations, type Migration } from './migrations/index.js';

/** Arbitrary constant: serialises migrators when several gateways start against one PostgreSQL. */
const MIGRATION_LOCK_ID = 0x57415244;

/**
 * Applies every migration not yet recorded, each in its own transaction (a failing
 * migration leaves nothing half-applied). Returns the ids applied now.
 */
export async function migrate(db: Database, migrations: Migration[] = allMigrations): Promise<string[]> {
  const ids = new Set<string>();
  for (const m of migrations) {
    if (ids.has(m.id)) throw new WardenError('WARDEN_STORE_MIGRATION_FAILED', `duplicate migration id ${m.id}`);
    ids.add(m.id);
  }
  return db.transaction(async (tx) => {
    if (db.kind === 'postgres') await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_ID]);
    // Under the lock: two replicas creating it at once on a fresh database make one of them fail
    // (IF NOT EXISTS does not cover a concurrent CREATE: unique violation on pg_type).
    await tx.query(`CREATE TABLE IF NOT EXISTS warden_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set((await tx.query<{ id: string }>('SELECT id FROM warden_migrations')).rows.map((r) => r.id));
    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.id)) continue;
      try {
        await tx.query('SAVEPOINT m');
        for (const statement of splitStatements(m.sql)) await tx.query(statement);
        await tx.query('INSERT INTO warden_migrations (id) VALUES ($1)', [m.id]);
        await tx.query('RELEASE SAVEPOINT m');
      } catch (cause) {
        throw new WardenError('WARDEN_STORE_MIGRATION_FAILED', `migration ${m.id} failed: ${(cause as Error).message}`, { cause });
      }
      applied.push(m.id);
    }
    return applied;
  });
}

/**
 * Splits a migration script on top-level semicolons so every statement runs through the
 * same parameterless query path inside the transaction. Migrations must not put ';' inside
 * string literals or function bodies ($$ blocks are kept whole).
 */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let current = '';
  let inDollar = false;
  for (let i = 0; i < sql.length; i++) {
    if (sql.startsWith('$$', i)) {
      inDollar = !inDollar;
      current += '$$';
      i++;
      continue;
    }
    const ch = sql[i]!;
    if (ch === ';' && !inDollar) {
      if (current.trim()) out.push(current.trim());
      current = '';
    } else current += ch;
  }
  if (current.trim()) out.push(current.trim());
  return out;
}
