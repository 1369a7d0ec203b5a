import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExtractionGuard, fitProfile, type DetectorEvent } from '../../src/detect/index.js';
import { StepProbeTracker } from '../../src/detect/extraction/StepProbeTracker.js';
import { configSchema } from '../../src/config/index.js';
import { splitIris, mulberry32 } from './helpers/extractionLab.js';

const iris = splitIris();
const allRows = [...iris.train, ...iris.test];
const defaults = configSchema.parse({}).detect.extraction;

function shuffled<T>(rows: T[], rnd: () => number): T[] {
  const out = [...rows];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

test('step probes: a Jacobian-augmentation round (seed rows, then x ± λ per feature) alarms on its second probe', () => {
  const events: DetectorEvent[] = [];
  const guard = new ExtractionGuard('iris', defaults, undefined, (e) => events.push(e));
  const seeds = [iris.test[0]!, iris.test[20]!, iris.test[40]!];
  const probes = seeds.map((r, i) => r.map((v, j) => v + 0.3 * ((i + j) % 2 === 0 ? 1 : -1)));
  const alarmedAt = [...seeds, ...probes].map((x) => guard.observeQuery('mallory', x, false).alarmed).indexOf(true) + 1;
  assert.equal(alarmedAt, 5);
  assert.equal(events.length, 1);
  assert.deepEqual({ signal: events[0]!.details.signal, probes: events[0]!.details.probes }, { signal: 'step-probe', probes: 2 });
});

test('step probes: a sweep x, x+λ, x+2λ is one step size, also from a float32 client; 0.1 and 0.2 steps do not share one', () => {
  const f32 = (r: number[]): number[] => r.map(Math.fround);
  const sweep = new StepProbeTracker(4, undefined);
  assert.equal(sweep.observe(f32([5.1, 3.1, 1.1, 0.1])), 0);
  assert.equal(sweep.observe(f32([5.2, 3.2, 1.2, 0.2])), 1);
  assert.equal(sweep.observe(f32([5.3, 3.3, 1.3, 0.3])), 2);
  const grid = new StepProbeTracker(4, undefined);
  grid.observe([5.1, 3.5, 1.4, 0.2]);
  assert.equal(grid.observe([5.2, 3.6, 1.5, 0.3]), 1);
  assert.equal(grid.observe([5.4, 3.8, 1.7, 0.5]), 1, 'a 0.2 step is another sweep');
});

test('step probes: steps scaled per feature (λ·std) count too; mixed step sizes and distant bases do not', () => {
  const scale = [0.8, 0.4, 1.8, 0.8];
  const scaled = new StepProbeTracker(4, scale);
  const base = [5, 3, 4, 1];
  assert.equal(scaled.observe(base), 0);
  assert.equal(scaled.observe(base.map((v, j) => v + 0.5 * scale[j]!)), 1);
  assert.equal(scaled.observe(base.map((v, j) => v - 0.5 * scale[j]!)), 2);

  const mixed = new StepProbeTracker(4, undefined);
  mixed.observe(base);
  assert.equal(mixed.observe(base.map((v) => v + 0.3)), 1);
  assert.equal(mixed.observe(base.map((v) => v + 0.2)), 1, 'another step size is its own sweep');
  assert.equal(mixed.observe(base.map((v, j) => v + (j === 0 ? 0 : 0.3))), 0, 'an unchanged feature is no sign step');

  const windowed = new StepProbeTracker(2, undefined);
  windowed.observe(base);
  windowed.observe([1, 1, 1, 1]);
  windowed.observe([2, 2, 2, 9]);
  assert.equal(windowed.observe(base.map((v) => v + 0.3)), 0, 'the base query left the window');
});

test('step probes: benign users replaying every iris row in random order almost never alarm (defaults 2 in 4)', () => {
  const profile = fitProfile(iris.train, { labels: iris.trainLabels });
  const rnd = mulberry32(11);
  let alarmed = 0;
  const users = 5000;
  for (let u = 0; u < users; u++) {
    const events: DetectorEvent[] = [];
    const guard = new ExtractionGuard('iris', { ...defaults, oodAlarmCount: 1000, coverageFactor: 1000 }, profile, (e) => events.push(e));
    for (const row of shuffled(allRows, rnd)) guard.observeQuery(`u${u}`, row, false);
    if (events.length > 0) alarmed++;
  }
  // iris is measured to 0.1 cm, so 8 of its 11,175 row pairs differ by one amount in every feature;
  // docs/detect.md: 0.3% of such users alarm at 2 in 4 (0.02% at 3 in 8). Fail well above that.
  assert.ok(alarmed / users <= 0.006, `${alarmed} of ${users} benign users alarmed`);
});
