import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Gauge } from 'prom-client';
import { AlertEngine, matchLeakReport, revokeLeakedTokens, blockApiKeyAction, parseRunbook, type AlertRuleConfig, type GatewayDecisionEvent } from '../../src/respond/index.js';
import { createLogger } from '../../src/observe/index.js';
import type { ControlPlaneMetrics } from '../../src/observe/metrics.js';
import { WardenError } from '../../src/errors/index.js';
import { respondFixture, type RespondFixture } from './fixture.js';
import { AdminTokenRepository } from '../../src/store/index.js';
import { DEFAULT_ALERT_RULES } from '../../src/config/sections/respond.js';

let f: RespondFixture;
let hook: Server;
let hookUrl = '';
const received: { body: Record<string, unknown>; headers: IncomingMessage['headers'] }[] = [];
let hookStatus = 204;

before(async () => {
  f = await respondFixture({
    configOverrides: {
      'respond.alerts': [
        { name: 'leaked-api-key', when: { detector: 'leaked-credential' }, severity: 'critical', runbook: 'contain-leaked-key', cooldownSeconds: 0 },
        { name: 'deny-burst', when: { denies: 3, withinSeconds: 60 }, severity: 'medium' },
        { name: 'new-address', when: { newSourceAddress: { learnSeconds: 0 } }, severity: 'high' },
        { name: 'low-accuracy', when: { metric: 'test_accuracy', labels: { model: 'iris' }, below: 0.8 }, severity: 'medium' },
        { name: 'disabled', when: { detector: 'leaked-credential' }, enabled: false },
      ],
    },
  });
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ body: JSON.parse(body) as Record<string, unknown>, headers: req.headers });
      res.writeHead(hookStatus).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
  hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}/hook`;
});

after(async () => {
  await f?.close();
  await new Promise<void>((r) => hook.close(() => r()));
});

const decision = (principal: string, decision: 'allow' | 'deny', sourceIp = '10.0.0.1', principalId = 'key_0000000000000001'): GatewayDecisionEvent => ({ principal, principalId, authn: 'api-key', decision, code: decision === 'deny' ? 'WARDEN_AUTHZ_DENIED' : null, sourceIp, model: 'echo' });

/**
 * Rules fire in the background for gateway decisions: waits for the state a test expects (its
 * writes take far longer than any fixed sleep on two busy cores), or fails at the deadline.
 */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Alert rules that started firing (the counter is bumped synchronously, before any I/O). */
async function firedCount(rule: string): Promise<number> {
  const m = (await f.registry.getMetricsAsJSON()).find((x) => x.name === 'warden_alerts_fired_total');
  return m?.values.find((v) => v.labels.rule === rule)?.value ?? 0;
}

const burstIncidents = async () => (await f.responder.incidents.list()).filter((i) => i.rule === 'deny-burst');

test('a leak report matches only live Warden keys by HMAC, never by prefix alone', async () => {
  const { key, record } = await f.keys.create({ name: 'reported' });
  const forged = key.slice(0, -4) + 'AAAA';
  const { matches, alarms } = await matchLeakReport(f.db, f.serverSecret, [{ token: key, source: 'github' }, { token: forged }, { token: 'not-a-key' }], Date.now());
  assert.deepEqual(matches.map((m) => m.match), [true, false, false]);
  assert.equal(matches[0]!.keyId, record.id);
  assert.equal(alarms.length, 1);
  assert.equal(alarms[0]!.details.key, record.id);
  assert.ok(!JSON.stringify(alarms).includes(key), 'the alarm never carries the token');
  await assert.rejects(matchLeakReport(f.db, f.serverSecret, { token: key }, Date.now()), (e: WardenError) => e.code === 'WARDEN_RESPOND_LEAK_REPORT_INVALID');
  await assert.rejects(matchLeakReport(f.db, f.serverSecret, Array.from({ length: 101 }, () => ({ token: 'x' })), Date.now()), (e: WardenError) => e.code === 'WARDEN_RESPOND_LEAK_REPORT_INVALID');
});

test('a leaked-credential alarm opens one incident, runs the bound runbook and contains it (disabled rules stay quiet)', async () => {
  const { key, record } = await f.keys.create({ name: 'leaked-in-repo' });
  const { alarms } = await matchLeakReport(f.db, f.serverSecret, [{ token: key }], Date.now());
  const fired = await f.responder.alerts.onAlarm(alarms[0]!);
  assert.equal(fired.length, 1, 'the disabled rule did not fire');
  assert.equal(fired[0]!.rule, 'leaked-api-key');
  assert.equal(fired[0]!.run?.ok, true);
  assert.ok((await f.keys.find(record.id))!.revokedAt);
  const inc = await f.responder.incidents.show(fired[0]!.incidentId);
  assert.equal(inc.state, 'contained');
  assert.equal(inc.openedBy, 'Rule::"leaked-api-key"');
  assert.equal(inc.target.key, record.id);
  assert.deepEqual(inc.timeline.map((e) => e.kind).slice(0, 3), ['state', 'alert', 'plan']);
});

test('N denies from one principal within the window open one incident; N-1 do not', async () => {
  const before = (await burstIncidents()).length;
  const firedBefore = await firedCount('deny-burst');
  f.responder.alerts.onDecision(decision('User::"probe"', 'deny'));
  f.responder.alerts.onDecision(decision('User::"probe"', 'deny'));
  f.responder.alerts.onDecision(decision('User::"other"', 'deny'));
  f.responder.alerts.onDecision(decision('User::"probe"', 'allow'));
  // Deny counting is synchronous: had the rule fired, its counter would have moved already.
  assert.equal(await firedCount('deny-burst'), firedBefore, 'two denies are not a burst');
  f.responder.alerts.onDecision(decision('User::"probe"', 'deny'));
  assert.equal(await firedCount('deny-burst'), firedBefore + 1, 'the third deny fires');
  const burst = await eventually(burstIncidents, (l) => l.length > before);
  assert.equal(burst.length, before + 1);
  assert.equal(burst[0]!.subject, 'User::"probe"');
  // Within the cooldown, a second burst lands on the same incident's timeline (whether or not the
  // first burst's writes are done: no wait between them here).
  for (let i = 0; i < 3; i++) f.responder.alerts.onDecision(decision('User::"probe"', 'deny'));
  const alerts = async () => (await f.responder.incidents.show(burst[0]!.id)).timeline.filter((e) => e.kind === 'alert');
  assert.equal((await eventually(alerts, (a) => a.length >= 2)).length, 2);
  assert.equal((await burstIncidents()).length, before + 1, 'no second incident');
});

test('a burst that arrives while the first burst is still being handled lands on its incident, not nowhere', async () => {
  // The first burst's incident is held open (a slow store, a slow runbook) while the second burst
  // arrives: the second joins the in-flight one and must still be on its timeline and in the audit log.
  const rule = { ...f.config.respond.alerts.find((r) => r.name === 'deny-burst')!, name: 'deny-burst-overlap' };
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const incidents = Object.create(f.responder.incidents) as typeof f.responder.incidents;
  incidents.open = async (input) => {
    await gate;
    return f.responder.incidents.open(input);
  };
  const { recorder, runbooks, engine } = f.responder;
  const alerts = new AlertEngine({ rules: [rule], incidents, recorder, runbooks, engine, logger: createLogger({ level: 'silent' }), maxTrackedPrincipals: 100 });
  for (let i = 0; i < 6; i++) alerts.onDecision(decision('User::"overlap"', 'deny'));
  release();
  const opened = await eventually(
    async () => (await f.responder.incidents.list()).filter((i) => i.rule === 'deny-burst-overlap'),
    (l) => l.length > 0,
  );
  assert.equal(opened.length, 1, 'one incident for both bursts');
  const timeline = await eventually(
    async () => (await f.responder.incidents.show(opened[0]!.id)).timeline.filter((e) => e.kind === 'alert'),
    (a) => a.length >= 2,
  );
  assert.equal(timeline.length, 2, 'both bursts are on the timeline');
  const audited = (await f.auditRecords()).filter((r) => r.resource === `Incident::${JSON.stringify(opened[0]!.id)}` && r.principal === 'Rule::"deny-burst-overlap"');
  assert.deepEqual(audited.map((r) => r.action).sort(), ['incident.alert', 'incident.open']);
});

test('a credential used from a new address after its learning period opens an incident', async () => {
  f.responder.alerts.onDecision(decision('ApiKey::"svc"', 'allow', '10.1.1.1', 'key_svc000000000001'));
  f.responder.alerts.onDecision(decision('ApiKey::"svc"', 'allow', '10.1.1.1', 'key_svc000000000001'));
  await new Promise((r) => setTimeout(r, 5));
  f.responder.alerts.onDecision(decision('ApiKey::"svc"', 'allow', '203.0.113.9', 'key_svc000000000001'));
  const inc = await eventually(
    async () => (await f.responder.incidents.list()).find((i) => i.rule === 'new-address'),
    (i) => i !== undefined,
  );
  assert.ok(inc);
  assert.equal(inc.target.sourceIp, '203.0.113.9');
  assert.equal(inc.target.key, 'key_svc000000000001');
});

test('metric rules fire once per crossing (accuracy drop)', async () => {
  const g = new Gauge({ name: 'test_accuracy', help: 'x', labelNames: ['model'], registers: [f.registry] });
  g.labels('iris').set(0.95);
  assert.equal((await f.responder.alerts.evaluateMetrics()).length, 0);
  g.labels('iris').set(0.6);
  const fired = await f.responder.alerts.evaluateMetrics();
  assert.equal(fired.length, 1);
  assert.equal(fired[0]!.rule, 'low-accuracy');
  assert.equal((await f.responder.alerts.evaluateMetrics()).length, 0, 'still low: no new alert');
  g.labels('iris').set(0.9);
  await f.responder.alerts.evaluateMetrics();
  g.labels('iris').set(0.5);
  assert.equal((await f.responder.alerts.evaluateMetrics()).length, 1, 'a new crossing fires again (deduplicated onto the open incident)');
});

test('notify-webhook posts the incident (no secrets), fails with a code on non-2xx, continueOnError keeps the run', async () => {
  const incident = await f.responder.incidents.open({ title: 'webhook', severity: 'low', target: { model: 'iris' }, openedBy: 'Admin::"a"' });
  const rb = parseRunbook(`name: notify\nsteps:\n  - action: notify-webhook\n    with: { url: "${hookUrl}", message: "contained {{incident.id}}" }\n`);
  hookStatus = 204;
  const ok = await f.responder.engine.run({ runbook: rb, target: {}, incidentId: incident.id, actor: 'Admin::"a"' });
  assert.equal(ok.ok, true, JSON.stringify(ok));
  const last = received.at(-1)!;
  assert.equal(last.body.message, `contained ${incident.id}`);
  assert.equal((last.body.incident as { id: string; target: { model: string } }).id, incident.id);
  assert.equal(last.headers['content-type'], 'application/json');
  hookStatus = 500;
  const bad = await f.responder.engine.run({ runbook: rb, target: {}, incidentId: incident.id, actor: 'Admin::"a"' });
  assert.equal(bad.ok, false);
  assert.equal(bad.steps[0]!.error?.code, 'WARDEN_RESPOND_WEBHOOK_FAILED');
  const tolerant = parseRunbook(`name: notify2\nsteps:\n  - action: notify-webhook\n    with: { url: "${hookUrl}" }\n    continueOnError: true\n`);
  const cont = await f.responder.engine.run({ runbook: tolerant, target: {}, incidentId: incident.id, actor: 'Admin::"a"' });
  assert.equal(cont.ok, true);
  assert.equal(cont.steps[0]!.status, 'failed-continued');
  hookStatus = 204;
  const shown = parseRunbook('name: n3\nsteps:\n  - action: notify-webhook\n    with: { url: "http://user:hunter2@127.0.0.1:1/x" }\n');
  const refused = await f.responder.engine.run({ runbook: shown, target: {}, incidentId: null, actor: 'Admin::"a"' });
  assert.equal(refused.ok, false);
  assert.ok(!JSON.stringify(refused).includes('hunter2'), 'webhook credentials never appear in reports');
  // Slack/PagerDuty-style webhooks carry their secret in the path or query: reports, the incident
  // and the (append-only) audit log name the webhook by origin and a fingerprint only.
  const secretHook = `${hookUrl}/T0001/B0001/PATHSECRET?routing_key=QUERYSECRET`;
  const slack = parseRunbook(`name: n4\nsteps:\n  - action: notify-webhook\n    with: { url: "${secretHook}" }\n`);
  const sent = await f.responder.engine.run({ runbook: slack, target: {}, incidentId: incident.id, actor: 'Admin::"a"' });
  assert.equal(sent.ok, true, JSON.stringify(sent));
  const evidence = JSON.stringify([sent, await f.auditRecords(), await f.responder.incidents.show(incident.id)]);
  assert.ok(!evidence.includes('PATHSECRET') && !evidence.includes('QUERYSECRET'), 'the webhook secret appears nowhere');
  assert.match(JSON.stringify(sent), /http:\/\/127\.0\.0\.1:\d+\/… \(url sha256:[0-9a-f]{12}\)/, 'the webhook is still identifiable');
});

test('snapshot-evidence writes the audit slice and metrics with a digest manifest, all or nothing', async () => {
  const incident = await f.responder.incidents.open({ title: 'evidence', severity: 'low', openedBy: 'Admin::"a"' });
  const rb = parseRunbook('name: ev\nsteps:\n  - action: snapshot-evidence\n    with: { windowMinutes: 5 }\n');
  const r = await f.responder.engine.run({ runbook: rb, target: {}, incidentId: incident.id, actor: 'Admin::"a"' });
  assert.equal(r.ok, true, JSON.stringify(r));
  const dir = join(f.dataDir, 'evidence', incident.id);
  const snaps = readdirSync(dir);
  assert.equal(snaps.length, 1);
  assert.ok(!snaps[0]!.startsWith('.tmp'));
  const manifest = JSON.parse(readFileSync(join(dir, snaps[0]!, 'manifest.json'), 'utf8')) as { auditRecords: number; files: Record<string, { sha256: string }> };
  assert.ok(manifest.auditRecords > 0);
  for (const [name, { sha256 }] of Object.entries(manifest.files)) {
    assert.equal(createHash('sha256').update(readFileSync(join(dir, snaps[0]!, name))).digest('hex'), sha256, name);
  }
  const lines = readFileSync(join(dir, snaps[0]!, 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { index: number; leafHash: string });
  assert.ok(lines.every((l) => Number.isInteger(l.index) && /^[0-9a-f]{64}$/.test(l.leafHash)));
  const bad = await f.responder.engine.run({ runbook: parseRunbook('name: ev2\nsteps:\n  - action: snapshot-evidence\n    with: { windowMinutes: 0 }\n'), target: {}, incidentId: incident.id, actor: 'Admin::"a"' });
  assert.equal(bad.error?.code, 'WARDEN_RESPOND_ACTION_PARAMS');
  assert.equal(existsSync(join(dir, snaps[0]!)), true);
});

test('incidents only move forward; unknown ids are WARDEN_RESPOND_INCIDENT_NOT_FOUND', async () => {
  const inc = await f.responder.incidents.open({ title: 'states', severity: 'low', openedBy: 'Admin::"a"' });
  await f.responder.incidents.transition(inc.id, 'eradicated', 'Admin::"a"');
  await assert.rejects(f.responder.incidents.transition(inc.id, 'contained', 'Admin::"a"'), (e: WardenError) => e.code === 'WARDEN_RESPOND_TRANSITION_INVALID');
  await f.responder.incidents.transition(inc.id, 'closed', 'Admin::"a"', 'false positive');
  await assert.rejects(f.responder.incidents.transition(inc.id, 'recovered', 'Admin::"a"'), (e: WardenError) => e.code === 'WARDEN_RESPOND_TRANSITION_INVALID');
  await assert.rejects(f.responder.incidents.show('inc_0000000000000000'), (e: WardenError) => e.code === 'WARDEN_RESPOND_INCIDENT_NOT_FOUND');
  await assert.rejects(f.responder.incidents.show("inc_' OR 1=1 --"), (e: WardenError) => e.code === 'WARDEN_RESPOND_INCIDENT_NOT_FOUND');
  const counts = await f.responder.incidents.countByState();
  assert.ok(counts.closed >= 1);
});

test('gateway decisions reach only the enabled deny and address rules, in their order; detector, metric and disabled rules ignore them', async () => {
  const fired: string[] = [];
  const metrics = { alertsFired: { labels: (name: string) => ({ inc: () => fired.push(name) }) } } as unknown as ControlPlaneMetrics;
  const opened: string[] = [];
  const incidents = {
    findRecent: async () => null,
    open: async (input: { rule: string }) => (opened.push(input.rule), { id: `inc_${opened.length}` }),
  } as unknown as typeof f.responder.incidents;
  const recorder = { batch: () => ({ record() {}, settle: async () => null }), record: async () => undefined } as unknown as typeof f.responder.recorder;
  const rule = (name: string, when: AlertRuleConfig['when'], enabled = true): AlertRuleConfig => ({ name, when, severity: 'high', cooldownSeconds: 0, enabled });
  let clock = 1_000_000;
  const alerts = new AlertEngine({
    rules: [
      rule('off-burst', { denies: 1, withinSeconds: 60 }, false),
      rule('leak', { detector: 'leaked-credential' }),
      rule('burst-2', { denies: 2, withinSeconds: 60 }),
      rule('metric', { metric: 'x', labels: {}, above: 1 }),
      rule('addr', { newSourceAddress: { learnSeconds: 0 } }),
      rule('burst-1', { denies: 1, withinSeconds: 60 }),
      rule('off-addr', { newSourceAddress: { learnSeconds: 0 } }, false),
    ],
    incidents,
    recorder,
    runbooks: f.responder.runbooks,
    engine: f.responder.engine,
    logger: createLogger({ level: 'silent' }),
    metrics,
    maxTrackedPrincipals: 100,
    now: () => clock++,
  });
  alerts.onDecision(decision('User::"p"', 'deny'));
  alerts.onDecision(decision('User::"p"', 'deny'));
  alerts.onDecision(decision('User::"p"', 'allow', '10.0.0.1'));
  alerts.onDecision(decision('User::"p"', 'allow', '10.0.0.2'));
  alerts.onDecision({ ...decision('User::"p"', 'deny'), principal: null });
  assert.deepEqual(fired, ['burst-1', 'burst-2', 'burst-1', 'addr']);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(opened, ['burst-1', 'burst-2', 'addr'], 'the second burst-1 joins the first one in flight');
});

test('a report listing one key five times raises one alarm; the default leaked-key rule keeps one incident per open key', async () => {
  const { key, record } = await f.keys.create({ name: 'reported-five-times' });
  const { matches, alarms } = await matchLeakReport(f.db, f.serverSecret, Array.from({ length: 5 }, () => ({ token: key })), Date.now());
  assert.deepEqual(matches.map((m) => m.keyId), Array(5).fill(record.id));
  assert.equal(alarms.length, 1);
  assert.ok((DEFAULT_ALERT_RULES.find((r) => r.name === 'leaked-api-key')?.cooldownSeconds ?? 0) > 0);
});

test('a leaked admin or PEP token (wdt_) matches by HMAC and is revoked, audited', async () => {
  const tokens = new AdminTokenRepository(f.db, f.serverSecret);
  const pep = await tokens.create('edge-1', 'pep');
  const forged = pep.token.slice(0, -4) + 'AAAA';
  const { matches, alarms, tokens: leaked } = await matchLeakReport(f.db, f.serverSecret, [{ token: pep.token }, { token: forged }, { token: pep.token }], Date.now());
  assert.deepEqual(matches.map((m) => m.match), [true, false, true]);
  assert.equal(matches[0]!.tokenId, pep.id);
  assert.equal(alarms.length, 0);
  assert.deepEqual(leaked, [{ id: pep.id, role: 'pep' }]);
  const audited: unknown[] = [];
  let changed = 0;
  await revokeLeakedTokens({ db: f.db, serverSecret: f.serverSecret, audit: async (action, details) => void audited.push({ action, details }), pepTokensChanged: () => void changed++ }, leaked);
  assert.equal(await tokens.verify(pep.token), 'revoked');
  assert.deepEqual(audited, [{ action: 'leak.token.revoked', details: { tokenId: pep.id, role: 'pep' } }]);
  assert.equal(changed, 1);
  assert.ok(!JSON.stringify(audited).includes(pep.token));
});

test('block-api-key on a name two active keys share says so, not "no API key"', async () => {
  // Creation refuses a second active key of a name; keys from before that rule can still share one.
  await f.keys.create({ name: 'twin' });
  const { record } = await f.keys.create({ name: 'twin-2' });
  await f.db.query("UPDATE api_keys SET name = 'twin' WHERE id = $1", [record.id]);
  const action = blockApiKeyAction({ db: f.db, serverSecret: f.serverSecret, snapshotChanged: () => {} });
  await assert.rejects(action.apply({ key: 'twin' }, { incidentId: null, actor: 'Admin::"t"' } as never), (e: WardenError) => e.code === 'WARDEN_RESPOND_PRECONDITION' && /2 active keys are named/.test(e.message) && !/no API key/.test(e.message));
});
