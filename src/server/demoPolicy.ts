import { readFileSync } from 'node:fs';
import type { Database } from '../store/index.js';
import { PolicyRepository, compilePolicySet } from '../policy/index.js';

const examples = new URL('../../examples/policies/', import.meta.url);

/** Arbitrary constant ('WDEM'): starts on one PostgreSQL publish the demo policy once between them. */
const DEMO_POLICY_LOCK_ID = 0x5744454d;

/** On the first `warden up --demo`, publish the demo Cedar policy set (validated against the Warden schema). */
export async function publishDemoPolicy(db: Database): Promise<number | null> {
  if (await new PolicyRepository(db).current()) return null;
  const policies = readFileSync(new URL('demo.cedar', examples), 'utf8');
  const schema = readFileSync(new URL('schema.cedarschema', examples), 'utf8');
  compilePolicySet(policies, { schemaText: schema });
  // Checked again under the lock: two starts that both found no policy would otherwise both
  // publish it (a duplicate version) or fail on the version number (WARDEN_CONFLICT).
  return db.transaction(async (tx) => {
    if (db.kind === 'postgres') await tx.query('SELECT pg_advisory_xact_lock($1)', [DEMO_POLICY_LOCK_ID]);
    const repo = new PolicyRepository(tx);
    if (await repo.current()) return null;
    return repo.publish({ policies, schema, comment: 'demo policy (warden up --demo)' }, 'warden up --demo');
  });
}
