import { randomBytes } from 'node:crypto';
import type { Queryable } from '../store/index.js';
import { WardenError } from '../errors/index.js';
import { parseWorkloadSpiffeId } from './parseWorkloadSpiffeId.js';

/** A registration entry: the workload that shows all `selectors` gets `spiffeId` (SPIRE's model). */
export interface RegistrationEntry {
  id: string;
  spiffeId: string;
  /** `type:value` pairs, e.g. k8s:ns:ml, k8s:sa:trainer. */
  selectors: string[];
  ttlSeconds: number | null;
  createdAt: string;
  createdBy: string | null;
}

interface Row {
  id: string;
  spiffe_id: string;
  selectors: string[];
  ttl_seconds: number | null;
  created_at: Date;
  created_by: string | null;
}

const SELECTOR = /^[a-z0-9_-]{1,32}:[A-Za-z0-9._:/@-]{1,253}$/;

export function parseSelectors(selectors: readonly string[]): string[] {
  if (!Array.isArray(selectors) || selectors.length === 0 || selectors.length > 32) {
    throw new WardenError('WARDEN_INPUT_INVALID', 'an entry needs 1..32 selectors of the form type:value');
  }
  for (const s of selectors) {
    if (typeof s !== 'string' || !SELECTOR.test(s)) throw new WardenError('WARDEN_INPUT_INVALID', `invalid selector ${JSON.stringify(String(s).slice(0, 64))} (expected type:value)`);
  }
  return [...new Set(selectors)].sort();
}

function toEntry(r: Row): RegistrationEntry {
  return { id: r.id, spiffeId: r.spiffe_id, selectors: r.selectors, ttlSeconds: r.ttl_seconds, createdAt: new Date(r.created_at).toISOString(), createdBy: r.created_by };
}

export class RegistrationEntryRepository {
  constructor(
    private readonly db: Queryable,
    private readonly trustDomain: string,
  ) {}

  async create(input: { spiffeId: string; selectors: string[]; ttlSeconds?: number; by?: string }): Promise<RegistrationEntry> {
    const id = parseWorkloadSpiffeId(input.spiffeId, this.trustDomain);
    const selectors = parseSelectors(input.selectors);
    if (input.ttlSeconds !== undefined && (!Number.isInteger(input.ttlSeconds) || input.ttlSeconds < 60 || input.ttlSeconds > 30 * 86400)) {
      throw new WardenError('WARDEN_IDENTITY_TTL_INVALID', 'entry ttl must be 60..2592000 seconds');
    }
    const r = await this.db.query<Row>(
      `INSERT INTO identity_entries (id, spiffe_id, selectors, selectors_key, ttl_seconds, created_by)
       VALUES ($1,$2,$3::jsonb,$4,$5,$6) ON CONFLICT (spiffe_id, selectors_key) DO NOTHING RETURNING *`,
      [`ent_${randomBytes(8).toString('hex')}`, id.id, JSON.stringify(selectors), selectors.join(','), input.ttlSeconds ?? null, input.by ?? null],
    );
    if (!r.rows[0]) throw new WardenError('WARDEN_IDENTITY_ENTRY_EXISTS', `an entry for ${id.id} with these selectors exists`);
    return toEntry(r.rows[0]);
  }

  async list(): Promise<RegistrationEntry[]> {
    const r = await this.db.query<Row>('SELECT * FROM identity_entries ORDER BY spiffe_id, id');
    return r.rows.map(toEntry);
  }

  async delete(id: string): Promise<RegistrationEntry> {
    const r = await this.db.query<Row>('DELETE FROM identity_entries WHERE id = $1 RETURNING *', [id]);
    if (!r.rows[0]) throw new WardenError('WARDEN_IDENTITY_ENTRY_NOT_FOUND', `no registration entry ${JSON.stringify(id.slice(0, 64))}`);
    return toEntry(r.rows[0]);
  }

  /** Entries whose selectors are all among the attested ones. */
  async match(attested: readonly string[]): Promise<RegistrationEntry[]> {
    const r = await this.db.query<Row>('SELECT * FROM identity_entries WHERE selectors <@ $1::jsonb ORDER BY spiffe_id, id', [JSON.stringify(attested)]);
    return r.rows.map(toEntry);
  }
}
