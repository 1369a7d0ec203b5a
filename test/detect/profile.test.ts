import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fitProfile, readDataFile, loadProfile, saveProfile, parseProfile, OodDetector, DriftMonitor, PerformanceMonitor, type DetectorEvent } from '../../src/detect/index.js';
import { isWardenError } from '../../src/errors/index.js';
import { splitIris, uniformPoints, mulberry32 } from './helpers/extractionLab.js';

const iris = splitIris();
const profile = fitProfile(iris.train, { labels: iris.trainLabels, featureNames: ['sl', 'sw', 'pl', 'pw'] });

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isWardenError(e) ? e.code : `not a WardenError: ${String(e)}`;
  }
  return undefined;
}

test('profile: ranges, moments, per-class Gaussians and out-of-fold calibrated threshold', () => {
  assert.equal(profile.count, iris.train.length);
  assert.equal(profile.gaussians.length, 3);
  assert.ok(profile.min[2]! >= 1 && profile.max[2]! <= 6.9);
  assert.ok(profile.mahalanobisThreshold > 2 && profile.mahalanobisThreshold < 10);
  assert.equal(profile.bins[0]!.shares.reduce((a, b) => a + b, 0).toFixed(6), '1.000000');
  assert.deepEqual(parseProfile(JSON.parse(JSON.stringify(profile))), profile);
});

test('OOD: held-out iris rows pass, uniform points in the feature box and garbage are flagged', () => {
  const ood = new OodDetector(profile, { rangeTolerance: 0.1, thresholdScale: 1 });
  const heldOut = iris.test.filter((r) => ood.check(r).ood).length;
  assert.ok(heldOut <= 1, `held-out flagged: ${heldOut}`);
  const uniform = uniformPoints(500, 3).filter((r) => ood.check(r).ood).length / 500;
  assert.ok(uniform > 0.7, `uniform flagged share ${uniform}`);
  const garbage = ood.check([50, -3, 0, 100]);
  assert.ok(garbage.ood && garbage.rangeViolations === 4);
  assert.equal(code(() => ood.check([1, 2, 3])), 'WARDEN_DETECT_INPUT_SHAPE');
});

test('fitProfile rejects bad data with WARDEN_DETECT_DATA_INVALID', () => {
  assert.equal(code(() => fitProfile([[1, 2]])), 'WARDEN_DETECT_DATA_INVALID');
  assert.equal(code(() => fitProfile([[1, 2], [1]])), 'WARDEN_DETECT_DATA_INVALID');
  assert.equal(code(() => fitProfile([[1, NaN], [1, 2]])), 'WARDEN_DETECT_DATA_INVALID');
  assert.equal(code(() => fitProfile([[1], [2]], { labels: ['a'] })), 'WARDEN_DETECT_DATA_INVALID');
  // Constant features stay finite thanks to the ridge.
  const flat = fitProfile([[1, 5], [2, 5], [3, 5]]);
  assert.ok(Number.isFinite(flat.mahalanobisThreshold));
});

test('data files: CSV with header and label column, JSON forms; errors name the row', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-detect-'));
  try {
    const csv = join(dir, 'd.csv');
    writeFileSync(csv, 'a,b,label\n1,2,x\n3,4,y\n5,6,x\n');
    const d = readDataFile(csv, { labelColumn: 'label' });
    assert.deepEqual(d.rows, [[1, 2], [3, 4], [5, 6]]);
    assert.deepEqual(d.labels, ['x', 'y', 'x']);
    assert.deepEqual(d.featureNames, ['a', 'b']);
    writeFileSync(csv, '1,2\n3,oops\n');
    assert.match(String((() => { try { readDataFile(csv); } catch (e) { return (e as Error).message; } })()), /row 2, column 2/);
    const json = join(dir, 'd.json');
    writeFileSync(json, JSON.stringify({ rows: [[1, 2], [3, 4]], labels: [0, 1], features: ['p', 'q'] }));
    assert.deepEqual(readDataFile(json).labels, [0, 1]);
    writeFileSync(json, JSON.stringify([[1, 2], [3]]));
    assert.equal(code(() => readDataFile(json)), 'WARDEN_DETECT_DATA_INVALID');
    writeFileSync(json, '{"rows": 3}');
    assert.equal(code(() => readDataFile(json)), 'WARDEN_DETECT_DATA_INVALID');
    assert.equal(code(() => readDataFile(join(dir, 'missing.csv'))), 'WARDEN_IO');
    assert.equal(code(() => readDataFile(csv, { labelColumn: 'nope' })), 'WARDEN_DETECT_DATA_INVALID');

    const p = join(dir, 'profile.json');
    saveProfile(p, profile);
    assert.deepEqual(loadProfile(p), profile);
    writeFileSync(p, JSON.stringify({ ...profile, min: [1] }));
    assert.equal(code(() => loadProfile(p)), 'WARDEN_DETECT_PROFILE_INVALID');
    writeFileSync(p, '{not json');
    assert.equal(code(() => loadProfile(p)), 'WARDEN_DETECT_PROFILE_INVALID');
    assert.ok(statSync(join(dir)).isDirectory());
    void readFileSync;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('drift: in-distribution traffic stays quiet, a shifted feature crosses PSI and KS thresholds', () => {
  const monitor = new DriftMonitor(profile, { window: 200, every: 50, psiAlarm: 0.25, ksPValue: 0.01 });
  const rnd = mulberry32(5);
  const all = [...iris.train, ...iris.test];
  let report;
  for (let i = 0; i < 400; i++) report = monitor.add(all[Math.floor(rnd() * all.length)]!) ?? report;
  assert.ok(report);
  assert.deepEqual(report.drifted, []);
  for (let i = 0; i < 400; i++) {
    const r = [...all[Math.floor(rnd() * all.length)]!];
    r[2] = r[2]! + 2.5; // petal length shifted by 2.5 cm
    report = monitor.add(r) ?? report;
  }
  assert.deepEqual(report!.drifted, ['pl']);
  const pl = report!.features.find((f) => f.feature === 'pl')!;
  assert.ok(pl.psi > 0.25 && pl.ks > 0.3 && pl.ksP < 0.001);
});

test('performance monitor: sliding-window accuracy and one alarm per degradation', () => {
  const events: DetectorEvent[] = [];
  const perf = new PerformanceMonitor({ window: 50, minSamples: 20, minAccuracy: 0.8 }, (e) => events.push(e));
  for (let i = 0; i < 50; i++) perf.record('iris', 1, 1);
  assert.equal(perf.accuracy('iris')!.accuracy, 1);
  for (let i = 0; i < 30; i++) perf.record('iris', 1, i % 2);
  const r = perf.accuracy('iris')!;
  assert.equal(r.samples, 50);
  assert.ok(r.degraded && r.accuracy < 0.8);
  assert.equal(events.length, 1);
  assert.equal(events[0]!.detector, 'accuracy');
  assert.equal(events[0]!.model, 'iris');
  for (let i = 0; i < 50; i++) perf.record('iris', 2, 2);
  for (let i = 0; i < 30; i++) perf.record('iris', 2, 0);
  assert.equal(events.length, 2, 're-armed after recovery');
  assert.throws(() => perf.record('', 1, 1), RangeError);
  assert.equal(perf.accuracy('other'), undefined);
});
