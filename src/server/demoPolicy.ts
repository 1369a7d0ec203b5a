import { readFileSync } from 'node:fs';
import type { Database } from '../store/index.js';
import { PolicyRepository, compilePolicySet } from '../policy/index.js';

const examples = new URL('../../examples/policies/', import.meta.url);

/** On the first `warden up --demo`, publish the demo Cedar policy set (validated against the Warden schema). */
export async function publishDemoPolicy(db: Database): Promise<number | null> {
  const repo = new PolicyRepository(db);
  if (await repo.current()) return null;
  const policies = readFileSync(new URL('demo.cedar', examples), 'utf8');
  const schema = readFileSync(new URL('schema.cedarschema', examples), 'utf8');
  compilePolicySet(policies, { schemaText: schema });
  return repo.publish({ policies, schema, comment: 'demo policy (warden up --demo)' }, 'warden up --demo');
}
