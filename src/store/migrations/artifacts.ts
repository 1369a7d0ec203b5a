import type { Migration } from './Migration.js';

export const artifactsMigrations: Migration[] = [
  {
    id: 'artifacts/0001_registry_and_lineage',
    sql: `
      CREATE TABLE artifacts (
        name text PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('model', 'dataset')),
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE SEQUENCE artifact_serving_seq;
      CREATE TABLE artifact_versions (
        id text PRIMARY KEY,
        name text NOT NULL REFERENCES artifacts(name),
        version text NOT NULL,
        digest text NOT NULL,
        manifest jsonb NOT NULL,
        stage text NOT NULL DEFAULT 'candidate' CHECK (stage IN ('candidate', 'approved', 'serving', 'retired')),
        revoked_at timestamptz,
        revoked_reason text,
        approved_at timestamptz,
        served_seq bigint,
        created_at timestamptz NOT NULL DEFAULT now(),
        stage_changed_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (name, version)
      );
      CREATE UNIQUE INDEX artifact_versions_one_serving ON artifact_versions (name) WHERE stage = 'serving';
      CREATE TABLE artifact_attestations (
        id text PRIMARY KEY,
        version_id text NOT NULL REFERENCES artifact_versions(id),
        predicate_type text NOT NULL,
        signer_key_id text NOT NULL,
        signer_spiffe_id text,
        signer_serial text,
        bundle jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX artifact_attestations_version ON artifact_attestations (version_id);
      CREATE TABLE lineage_nodes (
        key text PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('dataset', 'run', 'model', 'deployment')),
        name text NOT NULL,
        attrs jsonb NOT NULL DEFAULT '{}'::jsonb,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE lineage_edges (
        src text NOT NULL REFERENCES lineage_nodes(key),
        dst text NOT NULL REFERENCES lineage_nodes(key),
        relation text NOT NULL,
        source text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (src, dst, relation)
      );
      CREATE INDEX lineage_edges_dst ON lineage_edges (dst);
    `,
  },
];
