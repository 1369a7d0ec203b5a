import { randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';
import { WardenError, toWardenError } from '../../errors/index.js';
import { adminApiTls, createWorkloadKey } from '../../identity/index.js';
import type { FiredAlert } from '../AlertEngine.js';
import type { IncidentWithTimeline } from '../types.js';
import { Attacker, type Attempt } from './Attacker.js';
import { KNOWN_FEATURE_BOXES, mulberry32, uniformPoint } from './extractionQueries.js';
import type { DrillAdminApi, DrillCheck, DrillReport, DrillScenario, ProbeStats } from './types.js';

export interface DrillOptions {
  admin: DrillAdminApi;
  /** Admin API base URL (for the workload's mTLS calls) and the CA bundle PEM of the Warden under test. */
  adminUrl: string;
  caPem: string;
  trustDomain: string;
  /** Model the attacker calls through the gateway (default: echo, from `warden up --demo`). */
  model?: string;
  /** How long the attacker keeps trying after the first rejection (default 1000 ms). */
  afterMs?: number;
  /** Give up waiting for containment after this long (default 10 s). */
  timeoutMs?: number;
  /** Leave the drill incident open instead of closing it. */
  keepOpen?: boolean;
  /** poisoned-dataset: the dataset (NAME[@VERSION]) in the artifact registry to declare poisoned. */
  dataset?: string;
}

const LEAKED_KEY_BUDGET_MS = 2000;

interface HttpAnswer {
  status: number;
  code: string | null;
  json: unknown;
}

async function send(agent: Agent, url: string, method: 'GET' | 'POST', headers: Record<string, string>, body?: unknown): Promise<HttpAnswer> {
  const res = await request(url, { method, dispatcher: agent, headers: body !== undefined ? { ...headers, 'content-type': 'application/json' } : headers, body: body !== undefined ? JSON.stringify(body) : undefined });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, code: (json as { error?: { code?: string } } | undefined)?.error?.code ?? null, json };
}

function stats(attempts: Attempt[]): ProbeStats {
  return { sent: attempts.length, succeeded: attempts.filter((a) => a.ok).length };
}

const round = (ms: number) => Math.round(ms * 10) / 10;

class DrillRun {
  readonly checks: DrillCheck[] = [];
  readonly report: DrillReport;
  constructor(scenario: DrillScenario, detection: DrillReport['detection'], budget: number | null) {
    this.report = { scenario, ok: false, incidentId: null, detection, timeToDetectMs: null, timeToContainMs: null, containBudgetMs: budget, leaksAfterContainment: 0, before: { sent: 0, succeeded: 0 }, after: { sent: 0, succeeded: 0 }, checks: this.checks, timeline: [] };
  }
  check(name: string, ok: boolean, detail: string): boolean {
    this.checks.push({ name, ok, detail });
    return ok;
  }
}

/**
 * Runs one drill against a running Warden, as an attacker and a detector would: real requests
 * through the gateway (or the control plane's workload API), a real signal to the control
 * plane, then measures when the compromised credential stops working and whether any request
 * sent after that still got through.
 */
export async function runDrill(scenario: DrillScenario, options: DrillOptions): Promise<DrillReport> {
  switch (scenario) {
    case 'leaked-key':
      return leakedKeyDrill(options);
    case 'extraction':
      return extractionDrill(options);
    case 'compromised-worker':
      return compromisedWorkerDrill(options);
    case 'poisoned-dataset':
      return poisonedDatasetDrill(options);
    default:
      throw new WardenError('WARDEN_RESPOND_DRILL_UNKNOWN', `no drill ${JSON.stringify(scenario)}`);
  }
}

async function gatewayUrlOf(admin: DrillAdminApi): Promise<string> {
  const status = await admin.call<{ gateway?: { url?: string } | null }>('GET', '/api/v1/status');
  if (!status.gateway?.url) throw new WardenError('WARDEN_RESPOND_DRILL_FAILED', 'the control plane reports no gateway (drills need `warden up`)');
  return status.gateway.url;
}

function chatBody(model: string) {
  return { model, messages: [{ role: 'user', content: 'drill: what is the capital of France?' }] };
}

/** Shared tail: waits for the first rejection, keeps attacking for a while, reads the incident. */
async function contain(run: DrillRun, attacker: Attacker, options: DrillOptions, t0: number, detectMs: number, incidentId: string | null): Promise<void> {
  const r = run.report;
  const rejected = await attacker.waitFor(() => attacker.firstRejection(t0) !== null, options.timeoutMs ?? 10_000);
  const first = attacker.firstRejection(t0);
  if (rejected && first) {
    r.timeToContainMs = round(Math.max(0, first.doneAt - t0 - detectMs));
    await attacker.waitFor(() => false, options.afterMs ?? 1000);
  }
  await attacker.stop();
  const firstAt = first?.doneAt ?? Number.POSITIVE_INFINITY;
  const before = attacker.attempts.filter((a) => a.sentAt < t0);
  const after = attacker.attempts.filter((a) => a.sentAt >= firstAt);
  r.before = stats(before);
  r.after = stats(after);
  r.leaksAfterContainment = r.after.succeeded;
  run.check('attacker got through before containment', r.before.succeeded > 0, `${r.before.succeeded}/${r.before.sent} attacker requests succeeded before the signal`);
  run.check('rejected after containment', rejected, rejected ? `first rejection ${first!.status} ${first!.code}` : `still accepted after ${options.timeoutMs ?? 10_000} ms`);
  run.check('nothing got through after containment', rejected && r.leaksAfterContainment === 0, `${r.leaksAfterContainment} of ${r.after.sent} requests sent after the first rejection succeeded`);
  if (r.containBudgetMs !== null && r.timeToContainMs !== null) run.check(`contained within ${r.containBudgetMs} ms`, r.timeToContainMs <= r.containBudgetMs, `${r.timeToContainMs} ms`);
  if (incidentId) await readIncident(run, options, incidentId);
}

async function readIncident(run: DrillRun, options: DrillOptions, incidentId: string): Promise<IncidentWithTimeline> {
  const { incident } = await options.admin.call<{ incident: IncidentWithTimeline }>('GET', `/api/v1/incidents/${incidentId}`);
  run.report.timeline = incident.timeline.map((e) => ({ at: e.at, kind: e.kind, actor: e.actor, summary: e.summary }));
  run.check('incident contained', incident.state === 'contained', `incident ${incident.id} is ${incident.state}`);
  const applied = incident.timeline.filter((e) => e.kind === 'action' && /^[a-z-]+: /.test(e.summary) && e.details.changed === true);
  run.check('timeline records the containment steps', applied.length > 0, applied.map((e) => e.summary).join('; ') || 'no applied step on the timeline');
  const audit = await options.admin.call<{ records?: { record?: { action?: string; resource?: string } }[]; entries?: { record?: { action?: string; resource?: string } }[] }>('GET', `/api/v1/audit/records?limit=1000&kind=event`).catch(() => null);
  if (audit) {
    const rows = (audit.records ?? audit.entries ?? []).map((x) => x.record ?? (x as { action?: string; resource?: string }));
    const mine = rows.filter((x) => x.resource === `Incident::${JSON.stringify(incidentId)}`);
    const actions = new Set(mine.map((x) => x.action));
    run.check('audit log records each step', actions.has('incident.open') && actions.has('runbook.step.applied') && actions.has('incident.contained'), [...actions].sort().join(', ') || 'no audit records for the incident');
  }
  if (!options.keepOpen && incident.state !== 'closed') {
    await options.admin.call('POST', `/api/v1/incidents/${incidentId}/transition`, { to: 'closed', note: 'drill finished' });
  }
  return incident;
}

function finish(run: DrillRun): DrillReport {
  run.report.ok = run.checks.length > 0 && run.checks.every((c) => c.ok);
  return run.report;
}

function failed(run: DrillRun, err: unknown): DrillReport {
  const e = toWardenError(err, 'WARDEN_RESPOND_DRILL_FAILED');
  run.report.error = { code: e.code, message: e.message };
  run.report.ok = false;
  return run.report;
}

async function attackerForKey(options: DrillOptions, principal: string | undefined, scenario: string) {
  const gatewayUrl = await gatewayUrlOf(options.admin);
  const model = options.model ?? 'echo';
  const name = `drill-${scenario}-${randomBytes(4).toString('hex')}`;
  const created = await options.admin.call<{ key: string; record: { id: string; principal: string } }>('POST', '/api/v1/keys', { name, principal, scopes: [`model:${model}`], ttlSeconds: 3600 });
  const agent = new Agent({ connect: { ca: options.caPem, minVersion: 'TLSv1.2' }, keepAliveTimeout: 10_000 });
  const headers = { authorization: `Bearer ${created.key}` };
  const path = model === 'iris' ? `/v2/models/iris/infer` : '/v1/chat/completions';
  const body = model === 'iris' ? { inputs: [{ name: 'input-0', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] } : chatBody(model);
  const attacker = new Attacker(async () => {
    const a = await send(agent, gatewayUrl + path, 'POST', headers, body);
    return { status: a.status, code: a.code };
  });
  return { key: created.key, record: created.record, attacker, agent };
}

async function leakedKeyDrill(options: DrillOptions): Promise<DrillReport> {
  const run = new DrillRun('leaked-key', 'report', LEAKED_KEY_BUDGET_MS);
  let agent: Agent | null = null;
  try {
    const a = await attackerForKey(options, undefined, 'leak');
    agent = a.agent;
    a.attacker.start();
    if (!(await a.attacker.waitFor(() => a.attacker.attempts.some((x) => x.ok), 5000))) {
      await a.attacker.stop();
      run.check('the drill key works before the leak', false, `first answer: ${a.attacker.attempts[0]?.status} ${a.attacker.attempts[0]?.code}`);
      return finish(run);
    }
    await a.attacker.waitFor(() => false, 200);
    // The leak is found (e.g. by secret scanning) and reported to Warden.
    const t0 = performance.now();
    const res = await options.admin.call<{ receivedAt: string; fired: FiredAlert[] }>('POST', '/api/v1/respond/leaks?drill=true', [{ token: a.key, type: 'warden_api_key', source: 'drill' }]);
    const fired = res.fired.find((f) => !f.deduplicated) ?? res.fired[0];
    if (!fired) {
      await a.attacker.stop();
      run.check('leak report opens an incident', false, 'no alert rule fired for leaked-credential (is the leaked-api-key rule disabled?)');
      return finish(run);
    }
    run.report.incidentId = fired.incidentId;
    const { incident } = await options.admin.call<{ incident: IncidentWithTimeline }>('GET', `/api/v1/incidents/${fired.incidentId}`);
    // Detected = the incident is open and the alert is on its timeline.
    const alert = incident.timeline.find((e) => e.kind === 'alert');
    run.report.timeToDetectMs = alert ? round(Math.max(0, Date.parse(alert.at) - Date.parse(res.receivedAt))) : null;
    run.check('leak report opens an incident', true, `${fired.rule} → ${fired.incidentId}`);
    await contain(run, a.attacker, options, t0, run.report.timeToDetectMs ?? 0, fired.incidentId);
    return finish(run);
  } catch (err) {
    return failed(run, err);
  } finally {
    await agent?.close();
  }
}

/**
 * A Tramèr-style extraction attacker (uniform random queries over the model's feature box) on a
 * fresh key. Detection is the gateway's own extraction guard: the drill never sends the alarm
 * itself. Time to detect runs from the attacker's first query to the alert on the incident.
 */
async function extractionDrill(options: DrillOptions): Promise<DrillReport> {
  const principal = `User::"drill-extractor-${randomBytes(4).toString('hex')}"`;
  const model = options.model ?? 'iris';
  const run = new DrillRun('extraction', 'pep', null);
  let agent: Agent | null = null;
  try {
    const box = KNOWN_FEATURE_BOXES[model];
    if (!box) throw new WardenError('WARDEN_USAGE', `the extraction drill attacks a classifier whose feature ranges it knows (${Object.keys(KNOWN_FEATURE_BOXES).join(', ')}); not ${JSON.stringify(model)}`);
    const a = await attackerForKey({ ...options, model }, principal, 'extract');
    agent = a.agent;
    const gatewayUrl = await gatewayUrlOf(options.admin);
    const headers = { authorization: `Bearer ${a.key}` };
    // The new key reaches the gateway with the next policy snapshot; metadata calls are not queries.
    const deadline = Date.now() + (options.timeoutMs ?? 10_000);
    let probe = await send(agent, `${gatewayUrl}/v2/models/${model}`, 'GET', headers);
    while (probe.status !== 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      probe = await send(agent, `${gatewayUrl}/v2/models/${model}`, 'GET', headers);
    }
    if (!run.check('the drill key works before the attack', probe.status === 200, `model metadata: ${probe.status} ${probe.code ?? ''}`.trim())) return finish(run);
    const rnd = mulberry32(randomBytes(4).readUInt32LE(0));
    const attacker = new Attacker(async () => {
      const row = uniformPoint(rnd, box);
      const r = await send(agent!, `${gatewayUrl}/v2/models/${model}/infer`, 'POST', headers, { inputs: [{ name: 'input-0', shape: [1, row.length], datatype: 'FP32', data: row }] });
      return { status: r.status, code: r.code };
    });
    attacker.start();
    const incidentId = await waitForIncident(options.admin, 'extraction-attack', principal, options.timeoutMs ?? 10_000);
    if (!run.check('the gateway detector raises an extraction alarm that opens an incident', incidentId !== null, incidentId ?? `no incident after ${attacker.attempts.length} queries (extraction detection off, or the extraction-attack rule disabled?)`)) {
      await attacker.stop();
      return finish(run);
    }
    run.report.incidentId = incidentId;
    const { incident } = await options.admin.call<{ incident: IncidentWithTimeline }>('GET', `/api/v1/incidents/${incidentId}`);
    const alert = incident.timeline.find((e) => e.kind === 'alert');
    const detectedAt = Date.parse(alert?.at ?? incident.openedAt) - performance.timeOrigin;
    const firstQuery = attacker.attempts[0]!;
    run.report.timeToDetectMs = round(Math.max(0, detectedAt - firstQuery.sentAt));
    const refused = attacker.firstRejection();
    const answered = attacker.attempts.filter((x) => refused === null || x.sentAt < refused.sentAt).filter((x) => x.ok).length;
    run.check('attacker refused after a few answers', refused !== null, refused ? `query ${attacker.attempts.indexOf(refused) + 1} refused with ${refused.status} ${refused.code}; ${answered} answered before` : 'never refused');
    // The runbook runs in the background of the alarm: let it finish before the incident is read.
    for (let state = incident.state; state === 'open' && Date.now() < deadline + (options.timeoutMs ?? 10_000); ) {
      await new Promise((r) => setTimeout(r, 100));
      state = (await options.admin.call<{ incident: IncidentWithTimeline }>('GET', `/api/v1/incidents/${incidentId}`)).incident.state;
    }
    // Containment is measured from the alarm: the guard latches, the runbook then blocks the principal.
    await contain(run, attacker, options, Math.min(detectedAt, refused?.sentAt ?? detectedAt), 0, incidentId);
    return finish(run);
  } catch (err) {
    return failed(run, err);
  } finally {
    await agent?.close();
  }
}

async function waitForIncident(admin: DrillAdminApi, rule: string, subject: string, timeoutMs: number): Promise<string | null> {
  const end = Date.now() + timeoutMs;
  do {
    const { incidents } = await admin.call<{ incidents: { id: string; rule: string | null; subject: string | null }[] }>('GET', '/api/v1/incidents?limit=50');
    const hit = incidents.find((i) => i.rule === rule && i.subject === subject);
    if (hit) return hit.id;
    await new Promise((r) => setTimeout(r, 100));
  } while (Date.now() < end);
  return null;
}

const DRILL_WORKER_ADDRESS = '127.0.0.1';
const DRILL_ATTACKER_ADDRESS = '127.0.0.2';

/**
 * A worker's key and X.509-SVID are stolen. The worker uses its SVID from 127.0.0.1 (the address
 * the control plane first sees it from); the attacker uses the same key and SVID from 127.0.0.2
 * (Linux routes all of 127.0.0.0/8 to loopback). Nobody raises an alarm: the control plane's
 * workload API must notice the new address itself (`svid-new-address`) and quarantine the
 * workload. Time to detect runs from the attacker's first request to the alert on the incident
 * timeline (drill and server share a clock on one host); containment is the first answer that
 * refuses the SVID as revoked.
 */
async function compromisedWorkerDrill(options: DrillOptions): Promise<DrillReport> {
  const run = new DrillRun('compromised-worker', 'control-plane', null);
  const agents: Agent[] = [];
  try {
    const adminHost = new URL(options.adminUrl).hostname.replace(/^\[|\]$/g, '');
    if (adminHost !== '127.0.0.1' && adminHost !== 'localhost') {
      throw new WardenError('WARDEN_RESPOND_DRILL_FAILED', `the compromised-worker drill connects from ${DRILL_WORKER_ADDRESS} and ${DRILL_ATTACKER_ADDRESS}, so it needs the admin API on 127.0.0.1 (this one is on ${adminHost})`);
    }
    // The trust domain of the Warden under test, not of the local config.
    const ca = await options.admin.call<{ trustDomain?: string }>('GET', '/api/v1/identity/ca').catch(() => ({ trustDomain: undefined }));
    const spiffeId = `spiffe://${ca.trustDomain ?? options.trustDomain}/drill/worker-${randomBytes(4).toString('hex')}`;
    const key = createWorkloadKey();
    // Issued through the admin API: the operator's address is not the worker's, so Warden learns
    // the worker's address from its first use.
    const svid = await options.admin.call<{ serial: string; chainPem: string }>('POST', '/api/v1/identity/svids', { csr: key.csrPem, spiffeId, ttlSeconds: 600 });
    const mtlsFrom = (localAddress: string) => {
      // undici takes the source address on the Agent; it overrides connect.localAddress.
      const a = new Agent({ localAddress, connect: { ...adminApiTls(options.caPem), cert: svid.chainPem, key: key.keyPem }, keepAliveTimeout: 10_000 });
      agents.push(a);
      return a;
    };
    const jwtFrom = (agent: Agent) => async () => {
      const a = await send(agent, `${options.adminUrl}/api/v1/identity/jwt`, 'POST', {}, { audience: 'drill' });
      return { status: a.status, code: a.code };
    };
    const workerAgent = mtlsFrom(DRILL_WORKER_ADDRESS);
    const worker = new Attacker(jwtFrom(workerAgent));
    worker.start();
    const workerOk = await worker.waitFor(() => worker.attempts.filter((x) => x.ok).length >= 5, 5000);
    await worker.stop();
    run.report.worker = stats(worker.attempts);
    if (!run.check(`the worker's SVID works from ${DRILL_WORKER_ADDRESS}`, workerOk && worker.attempts.every((x) => x.ok), `${run.report.worker.succeeded}/${run.report.worker.sent} JWT-SVID requests answered; first: ${worker.attempts[0]?.status} ${worker.attempts[0]?.code ?? ''}`.trim())) {
      return finish(run);
    }

    // The attacker: same key, same SVID, another address. No alarm is raised by the drill.
    const attackStartedAt = Date.now();
    const t0 = performance.now();
    const attacker = new Attacker(jwtFrom(mtlsFrom(DRILL_ATTACKER_ADDRESS)));
    attacker.start();
    const revokedAnswer = () => attacker.attempts.find((a) => a.code === 'WARDEN_IDENTITY_REVOKED') ?? null;
    const contained = await attacker.waitFor(() => revokedAnswer() !== null, options.timeoutMs ?? 10_000);
    if (contained) await attacker.waitFor(() => false, options.afterMs ?? 1000);
    await attacker.stop();
    const first = revokedAnswer();
    const firstAt = first?.doneAt ?? Number.POSITIVE_INFINITY;
    const r = run.report;
    r.before = stats(attacker.attempts.filter((a) => a.sentAt < firstAt));
    r.after = stats(attacker.attempts.filter((a) => a.sentAt >= firstAt));
    r.leaksAfterContainment = r.after.succeeded;

    const incidentId = await waitForIncident(options.admin, 'svid-new-address', spiffeId, contained ? 2000 : 100);
    const detected = run.check(
      'Warden detected the SVID at a new address',
      incidentId !== null,
      incidentId ? `svid-new-address → ${incidentId}` : `no svid-new-address incident for ${spiffeId} (identity.addressTracking disabled, ${DRILL_ATTACKER_ADDRESS} in ignoreCidrs, or the rule disabled?)`,
    );
    if (detected) {
      r.incidentId = incidentId;
      const { incident } = await options.admin.call<{ incident: IncidentWithTimeline }>('GET', `/api/v1/incidents/${incidentId}`);
      const alert = incident.timeline.find((e) => e.kind === 'alert');
      r.timeToDetectMs = alert ? round(Math.max(0, Date.parse(alert.at) - attackStartedAt)) : null;
      const d = alert?.details ?? {};
      const named = d.detector === 'svid-new-address' && d.spiffeId === spiffeId && normalizeHex(String(d.serial)) === normalizeHex(svid.serial) && d.address === DRILL_ATTACKER_ADDRESS;
      run.check('the alert names the SPIFFE ID, serial and new address', named, `${String(d.spiffeId)} serial ${String(d.serial)} from ${String(d.address)} (known: ${String(d.knownAddresses)})`);
    }
    if (first) r.timeToContainMs = round(Math.max(0, first.doneAt - t0 - (r.timeToDetectMs ?? 0)));
    run.check('attacker refused as revoked', contained, first ? `first refusal ${first.status} ${first.code} after ${round(first.doneAt - t0)} ms` : `attacker answers: ${[...new Set(attacker.attempts.map((a) => `${a.status} ${a.code ?? ''}`.trim()))].join(', ') || 'none'}`);
    run.check('nothing got through after containment', contained && r.leaksAfterContainment === 0 && r.after.sent > 0, `${r.leaksAfterContainment} of ${r.after.sent} requests sent after the first refusal succeeded`);

    // Renewal is the other door a stolen SVID would use (refused from the worker's own address
    // too: quarantine revokes the identity, not an address); the CRL is what third-party PEPs read.
    const renew = await send(workerAgent, `${options.adminUrl}/api/v1/identity/renew`, 'POST', {}, { csr: createWorkloadKey().csrPem });
    run.check('renewal refused', renew.status >= 400, `${renew.status} ${renew.code}`);
    const crl = await request(`${options.adminUrl}/api/v1/identity/crl?format=pem`, { dispatcher: workerAgent });
    const crlPem = await crl.body.text();
    run.check('CRL lists the serial', crlPem.includes('BEGIN X509 CRL') && (await crlHasSerial(crlPem, svid.serial)), `serial ${svid.serial}`);
    if (incidentId) await readIncident(run, options, incidentId);
    return finish(run);
  } catch (err) {
    return failed(run, err);
  } finally {
    await Promise.all(agents.map((a) => a.close()));
  }
}

const normalizeHex = (s: string) => s.toLowerCase().replace(/^0+/, '');

async function crlHasSerial(crlPem: string, serialHex: string): Promise<boolean> {
  const { X509Crl } = await import('@peculiar/x509');
  const crl = new X509Crl(crlPem);
  const want = serialHex.toLowerCase().replace(/^0+/, '');
  return crl.entries.some((e) => e.serialNumber.toLowerCase().replace(/^0+/, '') === want);
}

interface DrillBlastRadius {
  dataset: string;
  frozen: boolean | null;
  models: { key: string; name: string; version: string; stage: string | null; revoked: boolean }[];
  deployments: { name: string; servingVersion: string | null; servingAffected: boolean }[];
}

/**
 * A detector declares a registered dataset poisoned. The runbook must freeze it, list its blast
 * radius, revoke every model version trained on it and take each affected deployment back to a
 * clean approved version (or to nothing serving). Checked from the registry as it is afterwards,
 * not from what the runbook says it did; containment = no deployment serves an affected version.
 */
async function poisonedDatasetDrill(options: DrillOptions): Promise<DrillReport> {
  const run = new DrillRun('poisoned-dataset', 'simulated-detector', null);
  try {
    const dataset = options.dataset;
    if (!dataset) throw new WardenError('WARDEN_USAGE', 'the poisoned-dataset drill needs --dataset NAME[@VERSION] of a dataset in the artifact registry');
    const brPath = `/api/v1/artifacts/${encodeURIComponent(dataset)}/blast-radius`;
    const before = await options.admin.call<DrillBlastRadius>('GET', brPath);
    const affectedBefore = before.deployments.filter((d) => d.servingAffected).map((d) => `${d.name}@${d.servingVersion}`);
    const t0 = performance.now();
    const res = await options.admin.call<{ fired: FiredAlert[] }>('POST', '/api/v1/respond/alarms', { detector: 'dataset-poisoned', details: { dataset, signal: 'drill', drill: true } });
    const fired = res.fired.find((f) => f.rule === 'poisoned-dataset');
    if (!run.check('poisoning alarm opens an incident', !!fired, fired?.incidentId ?? 'no incident (is the poisoned-dataset rule disabled?)')) return finish(run);
    run.report.incidentId = fired!.incidentId;
    const { incident } = await options.admin.call<{ incident: IncidentWithTimeline }>('GET', `/api/v1/incidents/${fired!.incidentId}`);
    const alert = incident.timeline.find((e) => e.kind === 'alert');
    run.report.timeToDetectMs = alert ? round(Math.max(0, Date.parse(alert.at) - Date.parse(incident.openedAt))) : null;
    const runbook = fired!.run;
    run.check(
      'runbook completed',
      runbook ? runbook.ok : fired!.deduplicated,
      runbook ? (runbook.error?.message ?? 'all steps applied') : fired!.deduplicated ? `the alarm joined open incident ${fired!.incidentId}; its runbook already ran` : 'no runbook ran',
    );

    // Contained when no deployment serves a version derived from the dataset any more.
    const deadline = Date.now() + (options.timeoutMs ?? 10_000);
    let after = await options.admin.call<DrillBlastRadius>('GET', brPath);
    while (after.deployments.some((d) => d.servingAffected) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      after = await options.admin.call<DrillBlastRadius>('GET', brPath);
    }
    const stillServing = after.deployments.filter((d) => d.servingAffected).map((d) => `${d.name}@${d.servingVersion}`);
    if (stillServing.length === 0) run.report.timeToContainMs = round(Math.max(0, performance.now() - t0 - (run.report.timeToDetectMs ?? 0)));

    const inc = await readIncident(run, options, fired!.incidentId);
    const step = inc.timeline.find((e) => e.kind === 'action' && e.details.action === 'rollback-affected-models' && Array.isArray(e.details.rolledBack));
    const rolledBack = ((step?.details.rolledBack ?? []) as { model: string; from: string; to: string | null }[]).map((x) => ({ model: x.model, from: x.from, to: x.to }));
    const blast = after.models.map((m) => `${m.name}@${m.version}`);
    const unrevoked = after.models.filter((m) => !m.revoked).map((m) => `${m.name}@${m.version}`);
    run.report.models = { blastRadius: blast, revoked: after.models.filter((m) => m.revoked).map((m) => `${m.name}@${m.version}`), rolledBack };

    run.check('dataset frozen', after.frozen === true, after.frozen === null ? 'this control plane has no freeze check' : after.frozen ? `${dataset}: no model may be registered from it or promoted` : `${dataset} is not frozen`);
    const listed = inc.timeline.some((e) => e.kind === 'action' && e.details.action === 'blast-radius' && Array.isArray(e.details.models) && blast.every((b) => (e.details.models as string[]).includes(`model:${b}`)));
    run.check('blast radius recorded', listed, `${blast.length} model version(s): ${blast.join(', ') || 'none'}`);
    run.check('derived model versions revoked', unrevoked.length === 0, unrevoked.length ? `still unrevoked: ${unrevoked.join(', ')}` : `${blast.length} revoked`);
    const moved = rolledBack.map((x) => `${x.from} → ${x.to ?? 'nothing serving'}`);
    const everyAffectedMoved = affectedBefore.every((a) => rolledBack.some((x) => x.from === a));
    run.check('serving rolled back', stillServing.length === 0 && everyAffectedMoved, stillServing.length ? `still serving ${stillServing.join(', ')}` : moved.join('; ') || 'no deployment served a derived version');
    return finish(run);
  } catch (err) {
    return failed(run, err);
  }
}
