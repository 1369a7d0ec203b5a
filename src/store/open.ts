import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { assertPrivateDir, EMBEDDED_STORE_DIR } from '../crypto/index.js';
import type { Database } from './Database.js';
import { openPglite } from './pglite.js';
import { openPostgres } from './postgres.js';
import { migrate } from './migrate.js';

export interface OpenStoreOptions {
  /** postgres://… ; empty/undefined means embedded PGlite. */
  databaseUrl?: string;
  /** Data dir: PGlite keeps its files in <dataDir>/db. Undefined + no URL = in-memory PGlite. */
  dataDir?: string;
  poolSize?: number;
  /** Apply pending migrations (default true). */
  migrate?: boolean;
}

export async function openStore(options: OpenStoreOptions): Promise<Database> {
  let db: Database;
  if (options.databaseUrl) {
    db = await openPostgres(options.databaseUrl, options.poolSize);
  } else if (options.dataDir) {
    const dir = join(options.dataDir, EMBEDDED_STORE_DIR);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    assertPrivateDir(dir, { ownerOnly: true });
    db = await openPglite(dir);
  } else {
    db = await openPglite();
  }
  if (options.migrate !== false) {
    try {
      await migrate(db);
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
    }
  }
  return db;
}
