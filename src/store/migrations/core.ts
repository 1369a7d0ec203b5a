import type { Migration } from './Migration.js';

export const coreMigrations: Migration[] = [
  {
    id: 'core/0001_settings_and_api_keys',
    sql: `
      CREATE TABLE settings (
        key text PRIMARY KEY,
        value jsonb NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE api_keys (
        id text PRIMARY KEY,
        prefix text NOT NULL UNIQUE,
        hash text NOT NULL,
        name text NOT NULL,
        principal text NOT NULL,
        scopes jsonb NOT NULL DEFAULT '[]'::jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz,
        revoked_at timestamptz,
        last_used_at timestamptz
      );
      CREATE TABLE admin_tokens (
        id text PRIMARY KEY,
        hash text NOT NULL,
        name text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
      );
    `,
  },
  {
    // Least privilege for remote gateways: a 'pep' token may only use the PEP channel.
    id: 'core/0002_admin_token_roles',
    sql: `ALTER TABLE admin_tokens ADD COLUMN role text NOT NULL DEFAULT 'admin' CHECK (role IN ('admin', 'pep'));`,
  },
  {
    // Principals refused at every PEP whatever credential they present (block-principal, `warden
    // principals block`): a Cedar entity string, as gateways and audit records write it.
    id: 'core/0003_blocked_principals',
    sql: `
      CREATE TABLE blocked_principals (
        principal text PRIMARY KEY,
        blocked_at timestamptz NOT NULL,
        expires_at timestamptz,
        blocked_by text NOT NULL,
        reason text,
        incident_id text
      );
    `,
  },
];
