import { WardenError } from '../errors/index.js';
import type { Queryable } from '../store/index.js';
import type { CedarEntityJson } from './cedar/EntityStore.js';
import { policySetDigest } from './CompiledPolicySet.js';

export interface PolicyVersion {
  version: number;
  policies: string;
  schema: string | null;
  entities: CedarEntityJson[];
  /** SHA-256 over policies, schema and entities. */
  digest: string;
  author: string;
  comment: string | null;
  /** Set when this version re-published an older one (rollback). */
  rolledBackFrom: number | null;
  createdAt: Date;
}

/** Listing row (without the texts). */
export type PolicyVersionSummary = Omit<PolicyVersion, 'policies' | 'schema' | 'entities'> & { policyCount?: number };

interface Row {
  version: number;
  policies: string;
  schema_text: string | null;
  entities: CedarEntityJson[] | string;
  digest: string;
  author: string;
  comment: string | null;
  rolled_back_from: number | null;
  created_at: Date;
}

function toVersion(r: Row): PolicyVersion {
  return {
    version: Number(r.version),
    policies: r.policies,
    schema: r.schema_text,
    entities: typeof r.entities === 'string' ? (JSON.parse(r.entities) as CedarEntityJson[]) : r.entities,
    digest: r.digest,
    author: r.author,
    comment: r.comment,
    rolledBackFrom: r.rolled_back_from === null ? null : Number(r.rolled_back_from),
    createdAt: new Date(r.created_at),
  };
}

export interface PublishInput {
  policies: string;
  schema?: string | null;
  entities?: CedarEntityJson[];
  comment?: string;
}

/**
 * Versioned policy sets. Versions only grow; the current set is the highest version. Callers
 * validate (compilePolicySet) before publishing: the repository stores what it is given.
 */
export class PolicyRepository {
  constructor(private readonly db: Queryable) {}

  async publish(input: PublishInput | string, author: string, rolledBackFrom: number | null = null): Promise<number> {
    const p: PublishInput = typeof input === 'string' ? { policies: input } : input;
    const entities = p.entities ?? [];
    const digest = policySetDigest(p.policies, p.schema ?? undefined, entities);
    try {
      const r = await this.db.query<{ version: number }>(
        `INSERT INTO policy_versions (version, policies, schema_text, entities, digest, author, comment, rolled_back_from)
         SELECT COALESCE(MAX(version), 0) + 1, $1, $2, $3::jsonb, $4, $5, $6, $7 FROM policy_versions
         RETURNING version`,
        [p.policies, p.schema ?? null, JSON.stringify(entities), digest, author, p.comment ?? null, rolledBackFrom],
      );
      return Number(r.rows[0]!.version);
    } catch (cause) {
      throw new WardenError('WARDEN_CONFLICT', 'another policy version was published concurrently; retry', { cause });
    }
  }

  async current(): Promise<PolicyVersion | null> {
    const r = await this.db.query<Row>('SELECT * FROM policy_versions ORDER BY version DESC LIMIT 1');
    return r.rows[0] ? toVersion(r.rows[0]) : null;
  }

  async get(version: number): Promise<PolicyVersion> {
    if (!Number.isSafeInteger(version) || version < 1) throw new WardenError('WARDEN_INPUT_INVALID', 'version must be a positive integer');
    const r = await this.db.query<Row>('SELECT * FROM policy_versions WHERE version = $1', [version]);
    if (!r.rows[0]) throw new WardenError('WARDEN_POLICY_VERSION_NOT_FOUND', `no policy version ${version}`);
    return toVersion(r.rows[0]);
  }

  async list(limit = 100): Promise<PolicyVersionSummary[]> {
    const r = await this.db.query<Row>(
      'SELECT version, digest, author, comment, rolled_back_from, created_at FROM policy_versions ORDER BY version DESC LIMIT $1',
      [Math.min(Math.max(1, limit), 1000)],
    );
    return r.rows.map((row) => ({
      version: Number(row.version),
      digest: row.digest,
      author: row.author,
      comment: row.comment,
      rolledBackFrom: row.rolled_back_from === null ? null : Number(row.rolled_back_from),
      createdAt: new Date(row.created_at),
    }));
  }

  /** Makes an older version current again by publishing its content as a new version. */
  async rollback(version: number, author: string): Promise<number> {
    const old = await this.get(version);
    return this.publish({ policies: old.policies, schema: old.schema, entities: old.entities, comment: `rollback to version ${version}` }, author, version);
  }
}
