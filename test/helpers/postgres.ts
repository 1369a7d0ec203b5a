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
    async drop() {
      const c = new pg.Client({ connectionString: testDatabaseUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
