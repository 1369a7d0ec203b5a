import type { Migration } from './Migration.js';

export const respondMigrations: Migration[] = [
  {
    id: 'respond/0001_incidents',
    sql: `
      CREATE TABLE respond_incidents (
        id text PRIMARY KEY,
        title text NOT NULL,
        severity text NOT NULL,
        state text NOT NULL,
        rule text,
        subject text,
        target jsonb NOT NULL DEFAULT '{}'::jsonb,
        opened_by text NOT NULL,
        opened_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        drill boolean NOT NULL DEFAULT false
      );
      CREATE INDEX respond_incidents_state ON respond_incidents (state, opened_at);
      CREATE INDEX respond_incidents_rule_subject ON respond_incidents (rule, subject, opened_at);
      CREATE TABLE respond_incident_events (
        seq bigserial PRIMARY KEY,
        incident_id text NOT NULL REFERENCES respond_incidents (id),
        at timestamptz NOT NULL,
        kind text NOT NULL,
        actor text NOT NULL,
        summary text NOT NULL,
        details jsonb NOT NULL DEFAULT '{}'::jsonb
      );
      CREATE INDEX respond_incident_events_incident ON respond_incident_events (incident_id, seq);
      CREATE TABLE respond_frozen_datasets (
        name text PRIMARY KEY,
        frozen_at timestamptz NOT NULL,
        frozen_by text NOT NULL,
        incident_id text
      );
    `,
  },
];
