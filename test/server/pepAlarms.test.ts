import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startControlPlaneOnly } from '../helpers/embeddedWarden.js';
import { PEP_ALARMS_PER_MINUTE } from '../../src/server/pepAlarms.js';

test('a PEP token raises only the alarms gateways raise, names no runbook target, is told no evidence path and is capped per minute', async (t) => {
  const cp = await startControlPlaneOnly(t, 'warden-pep-alarms-');
  const pep = await cp.pepToken('edge1');
  const own = `spiffe://${cp.warden.ca.trustDomain}/warden/server`;
  const alarm = (body: object) => cp.call(pep.token, 'POST', '/respond/alarms', body);

  // Detectors no gateway raises, or a gateway detector carrying a target a runbook acts on.
  const key = (await cp.call(cp.adminToken, 'POST', '/keys', { name: 'race', scopes: ['model:*'] })).json.record as { id: string };
  for (const body of [
    { detector: 'compromised-workload', details: { spiffeId: own } },
    { detector: 'leaked-credential', details: { key: key.id } },
    { detector: 'dataset-poisoned', details: { dataset: 'iris-train' } },
    { detector: 'extraction', principal: 'ApiKey::"team-a"', details: { signal: 'prada', key: key.id } },
    { detector: 'extraction', principal: 'ApiKey::"team-a"', details: { signal: 'prada', spiffeId: own } },
    { detector: 'accuracy', model: 'iris', details: { drill: true } },
  ]) {
    const r = await alarm(body);
    assert.equal(r.status, 403, JSON.stringify(body));
    assert.equal(r.json.error?.code, 'WARDEN_RESPOND_PEP_ALARM_REFUSED', JSON.stringify(body));
  }
  assert.equal(cp.warden.ca.revocations.hasSpiffeId(own), false, 'the control plane SVID is not revoked');
  const keys = (await cp.call(cp.adminToken, 'GET', '/keys')).json.keys as { id: string; revokedAt: string | null }[];
  assert.equal(keys.find((k) => k.id === key.id)?.revokedAt, null, 'the key is not revoked');

  // Names in an alarm end up in incident titles and tables: nothing invisible.
  const esc = await alarm({ detector: 'extraction', principal: 'ApiKey::"a\u001b]0;pwned\u0007"', details: { signal: 'prada' } });
  assert.equal(esc.status, 400);

  // What a gateway sends is accepted; the answer says which incident, without the run report.
  const ok = await alarm({ detector: 'extraction', principal: 'ApiKey::"team-a"', model: 'iris', details: { signal: 'prada', queries: 120, w: 0.8, pep: 'edge1' } });
  assert.equal(ok.status, 200, JSON.stringify(ok.json));
  const fired = ok.json.fired as Record<string, unknown>[];
  assert.equal(fired.length, 1);
  assert.equal(fired[0]!.rule, 'extraction-attack');
  assert.equal(fired[0]!.run, undefined);
  assert.doesNotMatch(JSON.stringify(ok.json), /evidence|\/tmp\//);

  // The same alarm from an admin token still gets the full report.
  const byAdmin = await cp.call(cp.adminToken, 'POST', '/respond/alarms', { detector: 'extraction', principal: 'ApiKey::"team-b"', details: { signal: 'prada' } });
  assert.ok((byAdmin.json.fired as { run?: unknown }[])[0]!.run, 'admins see the run');

  // At most PEP_ALARMS_PER_MINUTE per token per minute (one was accepted above); another token has its own budget.
  for (let i = 1; i < PEP_ALARMS_PER_MINUTE; i++) assert.equal((await alarm({ detector: 'accuracy', model: 'iris', details: { accuracy: 0.5 } })).status, 200);
  const over = await alarm({ detector: 'accuracy', model: 'iris', details: { accuracy: 0.5 } });
  assert.equal(over.status, 429);
  assert.equal(over.json.error?.code, 'WARDEN_RESPOND_PEP_ALARM_RATE_LIMITED');
  const other = await cp.pepToken('edge2');
  assert.equal((await cp.call(other.token, 'POST', '/respond/alarms', { detector: 'accuracy', model: 'iris', details: {} })).status, 200);

  // Nor can an admin's alarm make a runbook quarantine the control plane itself.
  const r = await cp.call(cp.adminToken, 'POST', '/respond/alarms', { detector: 'compromised-workload', details: { spiffeId: own } });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const run = (r.json.fired as { run: { ok: boolean; error?: { code: string } } }[])[0]!.run;
  assert.equal(run.ok, false);
  assert.equal(run.error?.code, 'WARDEN_RESPOND_ACTION_PARAMS');
  assert.equal(cp.warden.ca.revocations.hasSpiffeId(own), false);
});
