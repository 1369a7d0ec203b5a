import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * PostgreSQL for server-mode tests: WARDEN_TEST_DATABASE_URL points at a server where the
 * user may CREATE DATABASE (`.ci/run` sets it up). Each call gets a fresh, empty database.
 */
export const testDatabaseUrl = process.env.WARDEN_TEST_DATABASE_URL ?? '';

export async function postgresAvailable(): Promise<boolean> {
  if (!testDatabaseUrl) return false;
  const client = new pg.Client({ connectionString: testDatabaseUrl, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `warden_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: testDatabaseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(testDatabaseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    /**
     * Cleanup only. FORCE cannot end backends of other roles (e.g. an autovacuum worker still on the
     * database, or a killed process's connection not yet reaped) for a non-superuser test role, so
     * retry for a while, then leave the database behind with a warning rather than fail the test.
     */
    async drop() {
      const c = new pg.Client({ connectionString: testDatabaseUrl });
      await c.connect();
      try {
        for (let attempt = 1; ; attempt++) {
          try {
            await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
            return;
          } catch (err) {
            if (attempt >= 20) {
              console.warn(`could not drop test database ${name}: ${(err as Error).message}`);
              return;
            }
            await new Promise((r) => setTimeout(r, 250));
          }
        }
      } finally {
        await c.end();
      }
    },
  };
}
