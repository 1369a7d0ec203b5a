import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatKeysTable } from '../../src/cli/commands/keys.js';
import type { ApiKeyRecord } from '../../src/store/index.js';

// Shaped like the admin API's JSON: dates arrive as ISO strings.
function key(name: string, lastUsedAt: string | null, extra: Partial<Record<keyof ApiKeyRecord, unknown>> = {}): ApiKeyRecord {
  return { id: `key_${name}`, prefix: `wdn_${name}`, name, principal: `ApiKey::"${name}"`, scopes: ['model:iris'], createdAt: '2026-01-01T00:00:00.000Z', expiresAt: null, revokedAt: null, lastUsedAt, ...extra } as unknown as ApiKeyRecord;
}

test('keys list shows when each key was last used, "never" for an unused key', () => {
  const now = Date.parse('2026-03-01T00:00:00Z');
  const table = formatKeysTable([
    key('used', '2026-02-03T04:05:06.789Z', { expiresAt: '2026-04-01T00:00:00.000Z' }),
    key('idle', null),
  ], now);
  const [header, used, idle] = table.split('\n');
  assert.match(header!, /^ID\s+NAME\s+PREFIX\s+PRINCIPAL\s+SCOPES\s+STATUS\s+EXPIRES\s+LAST USED$/);
  assert.match(used!, /\sactive\s+2026-04-01T00:00:00Z\s+2026-02-03T04:05:06Z$/);
  assert.match(idle!, /\sactive\s+-\s+never$/);
  // The column starts at the same offset on every row, so the output stays easy to read and to cut.
  const at = header!.indexOf('LAST USED');
  assert.equal(used!.indexOf('2026-02-03'), at);
  assert.equal(idle!.indexOf('never'), at);
});
