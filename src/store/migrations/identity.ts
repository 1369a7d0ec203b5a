import type { Migration } from './Migration.js';

export const identityMigrations: Migration[] = [
  {
    id: 'identity/0001_svids_entries_tokens_revocations',
    sql: `
      CREATE TABLE identity_svids (
        serial text PRIMARY KEY,
        spiffe_id text NOT NULL,
        kind text NOT NULL DEFAULT 'x509',
        not_before timestamptz NOT NULL,
        not_after timestamptz NOT NULL,
        issued_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX identity_svids_spiffe_id ON identity_svids (spiffe_id, not_after);
      CREATE INDEX identity_svids_not_after ON identity_svids (not_after);
      CREATE TABLE identity_entries (
        id text PRIMARY KEY,
        spiffe_id text NOT NULL,
        selectors jsonb NOT NULL,
        selectors_key text NOT NULL,
        ttl_seconds integer,
        created_at timestamptz NOT NULL DEFAULT now(),
        created_by text,
        UNIQUE (spiffe_id, selectors_key)
      );
      CREATE TABLE identity_join_tokens (
        id text PRIMARY KEY,
        hash text NOT NULL UNIQUE,
        spiffe_id text NOT NULL,
        expires_at timestamptz NOT NULL,
        used_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        created_by text
      );
      CREATE TABLE identity_revocations (
        kind text NOT NULL,
        value text NOT NULL,
        reason text,
        revoked_by text,
        revoked_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz,
        PRIMARY KEY (kind, value)
      );
    `,
  },
];
