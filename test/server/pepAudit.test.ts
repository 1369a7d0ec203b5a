import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startControlPlaneOnly } from '../helpers/embeddedWarden.js';
import type { AuditRecord } from '../../src/audit/index.js';

const decision = (requestId: string, extra: Partial<AuditRecord> = {}): AuditRecord => ({
  action: 'invoke',
  decision: 'allow',
  details: { authn: 'api-key', principalId: 'key_0123456789abcdef' },
  kind: 'decision',
  principal: 'ApiKey::"team-a"',
  requestId,
  sourceIp: '10.0.0.7',
  ts: new Date().toISOString(),
  ...extra,
});

test('the PEP audit channel takes only what gateways write, whole batches or nothing, and names the delivering PEP token', async (t) => {
  const cp = await startControlPlaneOnly(t, 'warden-pep-audit-');
  const pep = await cp.pepToken('edge1');
  const send = (records: object[]) => cp.call(pep.token, 'POST', '/pep/audit', { pep: 'edge1', records });
  const stored = async () => ((await cp.call(cp.adminToken, 'GET', '/audit/records?limit=1000')).json.entries as { record: AuditRecord }[]).map((e) => e.record);
  const adminId = /^wdt_(adm_[0-9a-f]{16})_/.exec(cp.adminToken)![1]!;

  const forged: [string, object][] = [
    ['an admin record', { ts: new Date().toISOString(), kind: 'admin', principal: `Admin::"${adminId}"`, action: 'policy.publish', resource: 'policy-set', decision: 'allow', details: { outcome: 'committed', version: 7 } }],
    ['an Admin:: principal on a decision', decision('r-admin', { principal: `Admin::"${adminId}"` })],
    ['an event gateways do not write', { ts: new Date().toISOString(), kind: 'event', action: 'incident.contained', resource: 'Incident::"inc_1"' }],
    ['a record from 2099', decision('r-future', { ts: '2099-01-01T00:00:00.000Z' })],
    ['a record with no time', decision('r-no-ts', { ts: 'yesterday' })],
  ];
  for (const [what, record] of forged) {
    // Behind a valid record: the batch is refused whole, the valid record is not stored either.
    const r = await send([decision(`r-before-${what}`), record]);
    assert.equal(r.status, 422, what);
    assert.equal(r.json.error?.code, 'WARDEN_AUDIT_PEP_RECORD_REFUSED', what);
    assert.match(r.json.error!.message, /records\[1\]/, what);
  }
  const afterForgery = await stored();
  assert.equal(afterForgery.filter((r) => r.requestId?.startsWith('r-')).length, 0, 'nothing of a refused batch is stored');
  assert.ok(!afterForgery.some((r) => r.kind === 'admin' && r.action === 'policy.publish'));

  // What a gateway sends: decisions and detector alarm events, also old ones (spooled during an outage).
  const alarm = { ts: new Date().toISOString(), kind: 'event', action: 'detector.alarm', principal: 'ApiKey::"team-a"', resource: 'Model::"iris"', detectors: { extraction: { signal: 'prada', queries: 100 } } };
  const before = Date.now();
  const ok = await send([decision('r-now', { details: { authn: 'api-key', principalId: 'key_0123456789abcdef', pepTokenId: 'forged' } }), decision('r-old', { ts: '2020-01-01T00:00:00.000Z' }), alarm]);
  assert.equal(ok.status, 200, JSON.stringify(ok.json));
  assert.equal(ok.json.accepted, 3);
  const mine = (await stored()).filter((r) => r.requestId === 'r-now' || r.requestId === 'r-old' || r.action === 'detector.alarm');
  assert.equal(mine.length, 3);
  for (const r of mine) {
    assert.equal(r.details?.pepTokenId, pep.id, 'the delivering token, not what the PEP claimed');
    assert.equal(r.details?.pep, 'edge1');
    assert.ok(Date.parse(r.details?.receivedAt as string) >= before - 1000, 'stamped with the time the control plane received it');
  }
});
