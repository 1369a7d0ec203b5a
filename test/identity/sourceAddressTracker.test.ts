import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SourceAddressTracker, normalizeAddress, parseCidrList } from '../../src/identity/index.js';
import { WardenError } from '../../src/errors/index.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/observe/index.js';
import { SvidAddressWatch } from '../../src/server/SvidAddressWatch.js';
import type { Alarm, FiredAlert } from '../../src/respond/index.js';
import type { AuditRecord } from '../../src/audit/index.js';
import { respondFixture } from '../respond/fixture.js';

const tracker = (o: Partial<ConstructorParameters<typeof SourceAddressTracker>[0]> = {}) => new SourceAddressTracker({ maxSvids: 1000, maxAddressesPerSvid: 8, ...o });

test('first use learns the address; the same address is known; another address is new until accepted, then fires no more', () => {
  const t = tracker();
  assert.equal(t.observe('0A1B', '10.0.0.1').kind, 'learned');
  assert.equal(t.observe('a1b', '10.0.0.1').kind, 'known', 'serials are normalised (case, leading zeros)');
  const seen = t.observe('a1b', '10.0.0.2');
  assert.equal(seen.kind, 'new');
  assert.deepEqual(seen.kind === 'new' && seen.known, ['10.0.0.1']);
  assert.equal(seen.kind === 'new' && seen.learnedFrom, 'first-use');
  // Not accepted yet (the alarm was not handled): still new, so it is never silently let through.
  assert.equal(t.observe('a1b', '10.0.0.2').kind, 'new');
  t.accept('a1b', '10.0.0.2');
  assert.equal(t.observe('a1b', '10.0.0.2').kind, 'known');
  assert.equal(t.observe('a1b', '10.0.0.1').kind, 'known');
  // Another SVID of the same workload has its own history.
  assert.equal(t.observe('ff', '10.0.0.2').kind, 'learned');
});

test('an address learned at issuance is the first address: first use from elsewhere is new', () => {
  const t = tracker();
  t.learn('c0ffee', '192.0.2.7', 'issuance');
  assert.equal(t.observe('c0ffee', '192.0.2.7').kind, 'known');
  const seen = t.observe('c0ffee', '198.51.100.9');
  assert.equal(seen.kind, 'new');
  assert.equal(seen.kind === 'new' && seen.learnedFrom, 'issuance');
});

test('allowlisted CIDRs are ignored, both as first address and as new address', () => {
  const t = tracker({ ignoreCidrs: ['10.0.0.0/8', '2001:db8::/32', '192.0.2.10'] });
  assert.equal(t.observe('1', '10.9.8.7').kind, 'ignored');
  assert.equal(t.size, 0, 'an ignored first use learns nothing');
  assert.equal(t.observe('1', '192.0.2.1').kind, 'learned');
  assert.equal(t.observe('1', '10.1.1.1').kind, 'ignored');
  assert.equal(t.observe('1', '::ffff:10.1.1.1').kind, 'ignored', 'IPv4-mapped IPv6 is the IPv4 address');
  assert.equal(t.observe('1', '2001:db8::5').kind, 'ignored');
  assert.equal(t.observe('1', '192.0.2.10').kind, 'ignored', 'a bare address is a /32');
  assert.equal(t.observe('1', '192.0.2.11').kind, 'new');
  assert.equal(t.observe('1', '2001:db9::5').kind, 'new');
  assert.equal(t.observe('1', '/run/warden.sock').kind, 'ignored', 'not an IP: nothing to compare');
});

test('address spellings: IPv4-mapped and the two loopbacks are one address', () => {
  assert.equal(normalizeAddress('::FFFF:127.0.0.1'), '127.0.0.1');
  assert.equal(normalizeAddress('::1'), '127.0.0.1');
  assert.equal(normalizeAddress('127.0.0.2'), '127.0.0.2');
  const t = tracker();
  t.observe('9', '::ffff:127.0.0.1');
  assert.equal(t.observe('9', '::1').kind, 'known');
  assert.equal(t.observe('9', '127.0.0.2').kind, 'new');
});

test('caps: least recently used SVIDs and addresses are forgotten, memory stays bounded', () => {
  const t = tracker({ maxSvids: 3, maxAddressesPerSvid: 2 });
  for (const s of ['1', '2', '3']) t.observe(s, '10.0.0.1');
  t.observe('1', '10.0.0.1'); // 1 is now the most recently used
  t.observe('4', '10.0.0.1'); // evicts 2, the least recently used
  assert.equal(t.size, 3);
  assert.equal(t.observe('1', '10.0.0.1').kind, 'known');
  assert.equal(t.observe('2', '10.0.0.9').kind, 'learned', 'a forgotten SVID is learned again');
  // Per SVID: two addresses, the least recently used goes.
  t.accept('1', '10.0.0.2');
  t.observe('1', '10.0.0.1'); // touch .1 → .2 is the oldest
  t.accept('1', '10.0.0.3');
  assert.equal(t.observe('1', '10.0.0.1').kind, 'known');
  assert.equal(t.observe('1', '10.0.0.3').kind, 'known');
  const again = t.observe('1', '10.0.0.2');
  assert.equal(again.kind, 'new', 'an evicted address is new again (fails towards alarming)');
  assert.deepEqual(again.kind === 'new' && again.known.sort(), ['10.0.0.1', '10.0.0.3']);
  for (let i = 0; i < 10_000; i++) t.observe(`s${i}`, `10.0.${i >> 8}.${i & 255}`);
  assert.equal(t.size, 3);
});

test('bad CIDRs and caps are refused with stable codes; the config schema rejects them too', () => {
  for (const bad of ['10.0.0.0/33', 'nope', '10.0.0.0/8/1', '::/129', '10.0.0.0/x']) {
    assert.throws(() => parseCidrList([bad]), (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_IDENTITY_CIDR_INVALID', bad);
  }
  assert.throws(() => tracker({ maxSvids: 0 }), (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_INPUT_INVALID');
  assert.throws(() => loadConfig({ dataDir: '/tmp/x', env: {}, overrides: { 'identity.addressTracking.ignoreCidrs': ['10.0.0.0/8', 'evil.example'] } }), /ignoreCidrs/);
  const cfg = loadConfig({ dataDir: '/tmp/x', env: { WARDEN_IDENTITY_ADDRESS_TRACKING_ENABLED: 'false' } });
  assert.equal(cfg.identity.addressTracking.enabled, false);
  assert.equal(cfg.identity.addressTracking.holdMs, 5000);
  const rule = cfg.respond.alerts.find((r) => r.name === 'svid-new-address');
  assert.deepEqual(rule?.when, { detector: 'svid-new-address' });
  assert.equal(rule?.runbook, 'quarantine-workload');
});

const who = { spiffeId: 'spiffe://warden.test/ns/prod/worker', serial: 'abc123', issuerSerials: [], notAfter: new Date(Date.now() + 3600_000) };
const logger = createLogger({ level: 'silent' });

function watchWith(raise: ((a: Alarm) => Promise<FiredAlert[]>) | null, holdMs = 1000, isRevoked?: (w: { spiffeId: string }) => boolean) {
  const records: AuditRecord[] = [];
  const t = tracker();
  const watch = new SvidAddressWatch({ tracker: t, holdMs, raise, audit: { append: async (r: AuditRecord) => void records.push(r) } as never, logger, isRevoked });
  return { watch, records, tracker: t };
}

test('watch: a new address raises one alarm naming SPIFFE ID, serial and address, holds the request until it is handled', async () => {
  const alarms: Alarm[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const { watch, records } = watchWith(async (a) => {
    alarms.push(a);
    await gate;
    return [];
  });
  watch.learnIssued(who.serial, '10.0.0.1');
  assert.equal(await watch.check(who, '10.0.0.1', 'jwt'), false);
  // Two concurrent requests from the new address share one alarm and both wait for it.
  const a = watch.check(who, '10.0.0.2', 'jwt');
  const b = watch.check(who, '10.0.0.2', 'renew');
  let settled = false;
  void Promise.all([a, b]).then(() => (settled = true));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(settled, false, 'held while the alert is handled');
  release();
  assert.deepEqual(await Promise.all([a, b]), [true, true], 'caller must re-verify');
  assert.equal(await watch.check(who, '10.0.0.2', 'jwt'), false, 'fires once');
  assert.equal(alarms.length, 1);
  assert.equal(alarms[0]!.detector, 'svid-new-address');
  assert.deepEqual({ ...alarms[0]!.details, firstSeenAt: undefined }, { spiffeId: who.spiffeId, serial: who.serial, address: '10.0.0.2', knownAddresses: '10.0.0.1', learnedFrom: 'issuance', firstSeenAt: undefined, route: 'jwt' });
  assert.equal(records.length, 1);
  assert.equal(records[0]!.action, 'detector.alarm.received');
  assert.equal(records[0]!.sourceIp, '10.0.0.2');
  assert.ok(!/PRIVATE KEY|BEGIN CERTIFICATE/.test(JSON.stringify([alarms, records])));
});

test('watch: a failed or slow alert refuses the request with WARDEN_IDENTITY_NEW_ADDRESS_UNRESOLVED and keeps the address unknown', async () => {
  let fail = true;
  const { watch } = watchWith(async () => {
    if (fail) throw new WardenError('WARDEN_RESPOND_STEP_FAILED', 'store down');
    return [];
  });
  await watch.check(who, '10.0.0.1', 'jwt');
  await assert.rejects(watch.check(who, '10.0.0.2', 'jwt'), (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_IDENTITY_NEW_ADDRESS_UNRESOLVED' && e.status === 503);
  fail = false;
  assert.equal(await watch.check(who, '10.0.0.2', 'jwt'), true, 'the next request raises the alarm again');

  const slow = watchWith(() => new Promise((r) => setTimeout(() => r([]), 300)), 20);
  await slow.watch.check(who, '10.0.0.1', 'jwt');
  await assert.rejects(slow.watch.check(who, '10.0.0.2', 'jwt'), (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_IDENTITY_NEW_ADDRESS_UNRESOLVED');
  await new Promise((r) => setTimeout(r, 350));
  assert.equal(await slow.watch.check(who, '10.0.0.2', 'jwt'), false, 'known once the alert was handled');

  // holdMs 0: answered at once, alarm in the background; without a responder only audited.
  const quick = watchWith(null, 0);
  await quick.watch.check(who, '10.0.0.1', 'jwt');
  assert.equal(await quick.watch.check(who, '10.0.0.2', 'jwt'), false);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(quick.records.length, 1);
  assert.equal(quick.tracker.observe(who.serial, '10.0.0.2').kind, 'known');
});

test('watch: the held request goes on as soon as the SVID is revoked, before the runbook has finished', async () => {
  let revoke!: () => void;
  let cancelled = 0;
  const records: AuditRecord[] = [];
  const watch = new SvidAddressWatch({
    tracker: tracker(),
    holdMs: 5000,
    raise: () => new Promise((r) => setTimeout(() => r([]), 2000)),
    audit: { append: async (r: AuditRecord) => void records.push(r) } as never,
    logger,
    whenRevoked: () => ({ revoked: new Promise<void>((r) => (revoke = r)), cancel: () => void cancelled++ }),
  });
  await watch.check(who, '10.0.0.1', 'jwt');
  const started = Date.now();
  const held = watch.check(who, '10.0.0.2', 'jwt');
  setTimeout(() => revoke(), 30);
  assert.equal(await held, true);
  assert.ok(Date.now() - started < 1000, 'released by the revocation, not by the slow runbook');
  assert.equal(cancelled, 1, 'the revocation listener is detached');
});

test('watch + default alert rules: the svid-new-address rule quarantines the workload, incident names serial and address', async () => {
  const f = await respondFixture();
  try {
    const { watch } = watchWith((a) => f.responder.alerts.onAlarm(a), 10_000);
    await watch.check(who, '192.0.2.1', 'jwt');
    assert.equal(f.revokedSpiffeIds.size, 0);
    assert.equal(await watch.check(who, '198.51.100.7', 'jwt'), true);
    assert.ok(f.revokedSpiffeIds.has(who.spiffeId), 'quarantined before the held request goes on');
    const inc = (await f.responder.incidents.list()).find((i) => i.rule === 'svid-new-address');
    assert.ok(inc);
    assert.equal(inc.severity, 'critical');
    assert.equal(inc.state, 'contained');
    assert.equal(inc.target.spiffeId, who.spiffeId);
    assert.equal(inc.target.serial, who.serial);
    assert.equal(inc.target.address, '198.51.100.7');
  } finally {
    await f.close();
  }
});

const failedRun = { runbook: 'quarantine-workload', incidentId: 'inc_1', dryRun: false, ok: false, steps: [], warnings: [], error: { code: 'WARDEN_RESPOND_STEP_FAILED', message: 'step 1 failed' }, startedAt: '', durationMs: 0 };

test('watch: a runbook that ran and failed (or an absorbed alert still uncontained) is not handled: refused, address stays unknown', async () => {
  let fired: FiredAlert[] = [{ rule: 'svid-new-address', incidentId: 'inc_1', deduplicated: false, run: failedRun }];
  let raised = 0;
  let revoked = false;
  const { watch, tracker: t } = watchWith(async () => (raised++, fired), 1000, () => revoked);
  await watch.check(who, '10.0.0.1', 'jwt');
  const unresolved = (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_IDENTITY_NEW_ADDRESS_UNRESOLVED' && e.status === 503;
  await assert.rejects(watch.check(who, '10.0.0.2', 'jwt'), unresolved);
  await assert.rejects(watch.check(who, '10.0.0.2', 'jwt'), unresolved, 'still unknown: the alarm is raised again');
  assert.equal(raised, 2);
  fired = [{ rule: 'svid-new-address', incidentId: 'inc_1', deduplicated: true, outstanding: true }];
  await assert.rejects(watch.check(who, '10.0.0.2', 'jwt'), unresolved);
  assert.equal(t.observe(who.serial, '10.0.0.2').kind, 'new');
  // Whatever the reports say, a revoked SVID is contained (the caller's re-verification refuses it).
  revoked = true;
  assert.equal(await watch.check(who, '10.0.0.2', 'jwt'), true);
});

test('watch + default rules: a failed quarantine refuses the request; a later alert retries the runbook on the same incident', async () => {
  const f = await respondFixture({ configOverrides: { 'respond.retryFailedRunSeconds': 1 } });
  try {
    const { watch } = watchWith((a) => f.responder.alerts.onAlarm(a), 10_000, (w) => f.revokedSpiffeIds.has(w.spiffeId));
    await watch.check(who, '192.0.2.1', 'jwt');
    f.failSvidRevocation(true);
    const unresolved = (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_IDENTITY_NEW_ADDRESS_UNRESOLVED';
    await assert.rejects(watch.check(who, '198.51.100.7', 'jwt'), unresolved);
    await assert.rejects(watch.check(who, '198.51.100.7', 'jwt'), unresolved, 'absorbed within the retry interval: still not contained');
    f.failSvidRevocation(false);
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal(await watch.check(who, '198.51.100.7', 'jwt'), true, 'the runbook ran again and quarantined the workload');
    assert.ok(f.revokedSpiffeIds.has(who.spiffeId));
    const incs = (await f.responder.incidents.list()).filter((i) => i.rule === 'svid-new-address');
    assert.equal(incs.length, 1, 'one incident for all three alerts');
    assert.equal(incs[0]!.state, 'contained');
  } finally {
    await f.close();
  }
});
