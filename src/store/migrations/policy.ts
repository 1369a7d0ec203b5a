import type { Migration } from './Migration.js';

export const policyMigrations: Migration[] = [
  {
    id: 'policy/0001_policy_versions',
    // Append-only: a rollback publishes the old content as a new, higher version, so PEPs
    // can refuse any bundle older than the one they hold (no replay of a stale policy).
    sql: `
      CREATE TABLE policy_versions (
        version integer PRIMARY KEY CHECK (version > 0),
        policies text NOT NULL,
        schema_text text,
        entities jsonb NOT NULL DEFAULT '[]'::jsonb,
        digest text NOT NULL,
        author text NOT NULL,
        comment text,
        rolled_back_from integer,
        created_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
];
