// kill -9 in the middle of a burst of admin changes: every key in the store has its keys.create
// record in the audit log (the record is durable before the key is committed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { removeDir, startWardenProcess, tempDataDir, wardenClient } from '../helpers/warden.js';

const IN_FLIGHT = 4;
const KILL_AFTER = 6;
const ROUNDS = 3;

test('kill -9 during a burst of key creations: after a restart every stored key has a keys.create record', async (t) => {
  const dataDir = tempDataDir('warden-admin-crash-');
  t.after(() => removeDir(dataDir));
  let warden = await startWardenProcess({ dataDir, args: [] });
  const token = warden.ready.adminToken!;
  assert.equal(await warden.stop(), 0);

  for (let round = 0; round < ROUNDS; round++) {
    warden = await startWardenProcess({ dataDir, args: [] });
    const client = wardenClient(warden.ready.caBundle);
    let created = 0;
    let n = 0;
    // IN_FLIGHT creates at all times, so the kill lands with several of them mid-way.
    const worker = async (): Promise<void> => {
      while (warden.proc.exitCode === null && warden.proc.signalCode === null) {
        const name = `r${round}-k${n++}`;
        try {
          const r = await client.call('POST', `${warden.ready.adminUrl}/api/v1/keys`, { headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ name }) });
          if (r.status === 201 && ++created === KILL_AFTER) warden.proc.kill('SIGKILL');
        } catch {
          return; // the connection died with the process
        }
      }
    };
    const deadline = setTimeout(() => warden.proc.kill('SIGKILL'), 60_000);
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    clearTimeout(deadline);
    await client.close();
    assert.ok(created >= KILL_AFTER, `round ${round}: ${created} keys created before the kill`);
  }

  warden = await startWardenProcess({ dataDir, args: [] });
  t.after(() => warden.stop());
  const client = wardenClient(warden.ready.caBundle);
  t.after(() => client.close());
  const get = async (path: string) => (await client.call('GET', `${warden.ready.adminUrl}/api/v1${path}`, { headers: { authorization: `Bearer ${token}` } })).json;
  const keys = ((await get('/keys')) as { keys: { id: string }[] }).keys;
  const records = ((await get('/audit/records?action=keys.create&limit=10000')) as { entries: { record: { resource: string } }[] }).entries;
  const recorded = new Set(records.map((e) => e.record.resource));
  assert.ok(keys.length >= ROUNDS * KILL_AFTER);
  const unrecorded = keys.filter((k) => !recorded.has(`ApiKey::${JSON.stringify(k.id)}`)).map((k) => k.id);
  assert.deepEqual(unrecorded, [], `${unrecorded.length} of ${keys.length} stored keys have no keys.create record`);
  const verify = (await get('/audit/verify')) as { ok: boolean };
  assert.equal(verify.ok, true);
});
