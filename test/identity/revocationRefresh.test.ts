import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore } from '../../src/store/index.js';
import { RevocationList, REVOCATION_KEPT_AFTER_EXPIRY_MS, type RevocationEntry } from '../../src/identity/index.js';

// Two lists on one store stand for two control-plane replicas on one database.
test('refresh merges revocations another replica made: only new entries are applied and announced, none made here meanwhile is dropped', async (t) => {
  const db = await openStore({});
  t.after(() => db.close());
  const here = new RevocationList(db);
  const other = new RevocationList(db);
  await here.load();
  const announced: string[] = [];
  here.on('change', (added: RevocationEntry[]) => announced.push(...added.map((e) => `${e.kind}:${e.value}`)));

  await here.add({ kind: 'spiffe_id', value: 'spiffe://example.org/local' });
  await other.add({ kind: 'spiffe_id', value: 'spiffe://example.org/remote' });
  await other.add({ kind: 'serial', value: '0F', expiresAt: new Date(Date.now() + 3600_000) });
  // Expired just now: verifiers still accept it within their clock skew, so it is pushed.
  await other.add({ kind: 'serial', value: 'ee', expiresAt: new Date(Date.now() - 1000) });
  // Expired longer ago than any accepted skew (+ a minute): not worth pushing (prune would drop it).
  await other.add({ kind: 'serial', value: 'dd', expiresAt: new Date(Date.now() - REVOCATION_KEPT_AFTER_EXPIRY_MS - 1000) });
  const version = here.version;

  // A revocation made here while the reload reads the store is kept.
  const [added] = await Promise.all([here.refresh(), here.add({ kind: 'spiffe_id', value: 'spiffe://example.org/meanwhile' })]);
  assert.equal(added, 3);
  assert.ok(here.hasSpiffeId('spiffe://example.org/remote') && here.hasSerial('f') && here.hasSpiffeId('spiffe://example.org/local') && here.hasSpiffeId('spiffe://example.org/meanwhile'));
  assert.ok(here.hasSerial('ee') && !here.hasSerial('dd'));
  assert.ok(here.version > version, 'streams see a newer version');

  assert.equal(await here.refresh(), 0, 'a second reload finds nothing new');
  assert.deepEqual(announced.sort(), ['serial:ee', 'serial:f', 'spiffe_id:spiffe://example.org/local', 'spiffe_id:spiffe://example.org/meanwhile', 'spiffe_id:spiffe://example.org/remote']);
});
