import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { createDetectors, fitProfile, PradaDetector, ExtractionGuard, hardenOutput, type DetectorEvent } from '../../src/detect/index.js';
import { configSchema } from '../../src/config/index.js';
import { splitIris, trainSoftmax, uniformPoints, mulberry32, gatedOracle, papernotAttack, tramerAttack, type AttackRun } from './helpers/extractionLab.js';

const iris = splitIris();
const victim = trainSoftmax(iris.train, iris.trainLabels, 3);
const profile = fitProfile(iris.train, { labels: iris.trainLabels });
const ev = { victim: (r: number[]) => victim.predict(r), test: iris.test, uniform: uniformPoints(1000, 11) };

function detectConfig(action: 'log' | 'block', hardening: Record<string, { decimals?: number; top1Only?: boolean }> = {}) {
  const base = configSchema.parse({}).detect;
  return { ...base, extraction: { ...base.extraction, action }, hardening };
}

function firstAt(run: AttackRun, share: number): number | undefined {
  return run.progress.find((p) => p.testAgreement >= share)?.queries;
}

test('PRADA: normally spread benign queries keep W high; a synthetic step pattern drops it', () => {
  const rnd = mulberry32(3);
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
  const benign = new PradaDetector({ delta: 0.9, minQueries: 40, window: 500 });
  let alarms = 0;
  for (let i = 0; i < 300; i++) if (benign.observe([gauss(), gauss(), gauss(), gauss()], i % 3).alarm) alarms++;
  assert.equal(alarms, 0);
  // Jacobian-style augmentation: every new point is a parent moved by ±λ on each axis.
  const synthetic = new PradaDetector({ delta: 0.9, minQueries: 40, window: 500 });
  let points = [[0, 0, 0, 0]];
  let firstAlarm: number | undefined;
  let q = 0;
  for (let round = 0; round < 7 && firstAlarm === undefined; round++) {
    const next: number[][] = [];
    for (const p of points) {
      for (const s of [1, -1]) {
        const x = p.map((v, j) => v + 0.1 * s * (j % 2 === 0 ? 1 : -1));
        q++;
        if (synthetic.observe(x, 0).alarm && firstAlarm === undefined) firstAlarm = q;
        next.push(x);
      }
    }
    points = next;
  }
  assert.ok(firstAlarm !== undefined, 'synthetic pattern raised a PRADA alarm');
});

test('extraction guard: OOD-rate alarm is raised once, latched, and reset by an operator', () => {
  const events: DetectorEvent[] = [];
  const cfg = configSchema.parse({}).detect.extraction;
  const guard = new ExtractionGuard('iris', cfg, profile, (e) => events.push(e));
  for (let i = 0; i < 2; i++) assert.equal(guard.observeQuery('mallory', [9, 9, 9, 9], true).alarmed, false);
  assert.equal(guard.observeQuery('mallory', [9, 9, 9, 9], true).alarmed, true);
  guard.observeQuery('mallory', [9, 9, 9, 9], true);
  assert.equal(events.length, 1);
  assert.deepEqual({ ...events[0], details: { signal: events[0]!.details.signal } }, { type: 'detector.alarm', detector: 'extraction', principal: 'mallory', model: 'iris', details: { signal: 'ood-rate' } });
  assert.equal(guard.status('alice').alarmed, false);
  guard.reset('mallory');
  assert.equal(guard.status('mallory').alarmed, false);
});

test('extraction guard: query budget per window, new-region rate, principal LRU bound', () => {
  let now = 0;
  const base = configSchema.parse({}).detect.extraction;
  const events: DetectorEvent[] = [];
  const guard = new ExtractionGuard('iris', { ...base, budgetQueries: 5, budgetWindowSeconds: 60, maxPrincipals: 2, oodAlarmCount: 1000, oodWindow: 1000, coverageFactor: 1.5 }, profile, (e) => events.push(e), () => now);
  const row = iris.test[0]!;
  for (let i = 0; i < 5; i++) assert.equal(guard.observeQuery('bob', row, false).overBudget, false);
  now += 1000;
  assert.equal(guard.observeQuery('bob', row, false).overBudget, true);
  now += 61_000;
  assert.equal(guard.observeQuery('bob', row, false).overBudget, false);
  // Replaying the whole training set stays within the training coverage; a sweep does not.
  for (const r of [...iris.train, ...iris.train]) guard.observeQuery('replayer', r, false);
  assert.ok(!events.some((e) => e.principal === 'replayer'));
  const sweep = uniformPoints(200, 8);
  let sent = 0;
  for (const r of sweep) {
    sent++;
    guard.observeQuery('sweeper', r, false);
    if (events.some((e) => e.principal === 'sweeper')) break;
  }
  const alarm = events.find((e) => e.principal === 'sweeper');
  assert.equal(alarm?.details.signal, 'new-region');
  assert.ok((alarm!.details.cells as number) > 1.5 * profile.coverage.occupiedCells && sent < 200);
  const small = new ExtractionGuard('iris', { ...base, maxPrincipals: 2 }, profile, () => {});
  small.observeQuery('p1', row, false);
  small.observeQuery('p2', row, false);
  small.observeQuery('p1', row, false);
  small.observeQuery('p3', row, false);
  assert.equal(small.status('p2').queries, 0, 'least recently seen principal was forgotten');
  assert.equal(small.status('p1').queries, 2);
});

test('output hardening: rounding, top-k, label only', () => {
  const res = {
    model_name: 'iris',
    outputs: [
      { name: 'probabilities', shape: [2, 3], datatype: 'FP32', data: [0.123456, 0.654321, 0.222223, 0.5, 0.3, 0.2] },
      { name: 'label', shape: [2], datatype: 'INT64', data: [1, 0] },
    ],
  };
  assert.deepEqual(hardenOutput(res, { decimals: 2 }).outputs[0]!.data, [0.12, 0.65, 0.22, 0.5, 0.3, 0.2]);
  assert.deepEqual(hardenOutput(res, { topK: 1, decimals: 1 }).outputs[0]!.data, [0, 0.7, 0, 0.5, 0, 0]);
  assert.deepEqual(hardenOutput(res, { top1Only: true }).outputs[0]!.data, [0, 1, 0, 1, 0, 0]);
  assert.deepEqual(hardenOutput(res, { topK: 2 }).outputs[0]!.data, [0, 0.654321, 0.222223, 0.5, 0.3, 0]);
  assert.deepEqual(hardenOutput(res, {}).outputs, res.outputs);
  assert.deepEqual(hardenOutput(res, { top1Only: true }).outputs[1], res.outputs[1]);
  assert.equal(res.outputs[0]!.data[0], 0.123456, 'input not mutated');
});

test('in-process gateway: benign replay raises no alarm; both attacks are detected before 90% agreement', async () => {
  const events: DetectorEvent[] = [];
  const detectors = createDetectors(detectConfig('log'), { emit: (e) => events.push(e), registry: new Registry(), profiles: { iris: profile } });
  // Benign: five users replay the held-out rows in their own order.
  for (let u = 0; u < 5; u++) {
    const rnd = mulberry32(100 + u);
    const order = iris.test.map((_, i) => i).sort(() => rnd() - 0.5);
    const g = gatedOracle(detectors, `user-${u}`, victim);
    for (const i of order) await g.oracle([iris.test[i]!]);
  }
  assert.deepEqual(events, [], 'no false alarm on benign traffic');

  // Attacks in log mode: the alarm is recorded while the attack runs to completion.
  const alarmAt = (principal: string): number | undefined => (events as DetectorEvent[]).find((e) => e.principal === principal)?.details.queries as number | undefined;
  const tramer = await tramerAttack(gatedOracle(detectors, 'tramer', victim).oracle, 3, ev, { queries: 100 });
  const papernot = await papernotAttack(gatedOracle(detectors, 'papernot', victim).oracle, [0, 17, 34].map((i) => iris.test[i]!), 3, ev, { rounds: 6 });
  for (const [run, principal] of [[tramer, 'tramer'], [papernot, 'papernot']] as const) {
    const detected = alarmAt(principal);
    const reached = firstAt(run, 0.9);
    assert.ok(detected !== undefined, `${principal} detected`);
    assert.ok(reached === undefined || detected < reached, `${principal}: detected at ${detected}, 90% agreement at ${reached}`);
  }

  // Blocking mode: the attack is refused at the alarm and its surrogate stays below 90%.
  const blocking = createDetectors(detectConfig('block'), { emit: () => {}, registry: new Registry(), profiles: { iris: profile } });
  const blockedRun = await tramerAttack(gatedOracle(blocking, 'tramer', victim).oracle, 3, ev, { queries: 100 });
  assert.ok(blockedRun.refusedAt !== undefined);
  assert.ok(blockedRun.progress.at(-1)!.testAgreement < 0.9, `final agreement ${blockedRun.progress.at(-1)!.testAgreement}`);
});
