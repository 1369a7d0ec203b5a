import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { createDetectors, PerformanceMonitor } from '../../src/detect/index.js';
import { configSchema } from '../../src/config/index.js';

// Model names come from clients: per-model detector state must stay bounded whatever names they
// make up, without letting a flood of names reset the state of the models the operator named.

function make(detect: Record<string, unknown>, models: string[]) {
  const config = configSchema.parse({ detect }).detect;
  const registry = new Registry();
  return { detectors: createDetectors(config, { emit: () => undefined, registry, models }), registry };
}

function accuracySeries(text: string): string[] {
  return text.split('\n').filter((l) => l.startsWith('warden_detector_accuracy{'));
}

test('extraction state: at most maxModels made-up names are kept; a named model keeps its budget through a flood of names', () => {
  const { detectors } = make({ maxModels: 50, extraction: { budgetQueries: 5 } }, ['real', '*']);
  assert.deepEqual(detectors.inspectOpaqueInference('mallory', 'real', 5), []);
  assert.deepEqual(detectors.inspectOpaqueInference('mallory', 'real', 1), [{ detector: 'budget', action: 'block' }]);
  for (let i = 0; i < 2000; i++) detectors.inspectOpaqueInference('mallory', `m${i}`, 1);
  assert.equal(detectors.trackedModels().extraction, 51, '50 made-up names and the named model');
  assert.deepEqual(detectors.inspectOpaqueInference('mallory', 'real', 1), [{ detector: 'budget', action: 'block' }], 'the named model was not evicted');
  // The least recently used made-up name went first: m1999 is still there (its budget is spent on the next 5).
  assert.deepEqual(detectors.inspectOpaqueInference('mallory', 'm1999', 4), []);
  assert.deepEqual(detectors.inspectOpaqueInference('mallory', 'm1999', 1), [{ detector: 'budget', action: 'block' }]);
});

test('accuracy windows: a flood of model names evicts the least recently labelled instead of refusing labels', () => {
  const perf = new PerformanceMonitor({ window: 10, minSamples: 5, minAccuracy: 0.8 });
  perf.record('real', 1, 1);
  // 10 001 names was past the old hard cap (RangeError, a 500 for every later label).
  for (let i = 0; i <= 10_000; i++) perf.record(`junk-${i}`, 1, 1);
  assert.ok(perf.size <= 1000, `tracked ${perf.size}`);
  assert.deepEqual(perf.record('real', 1, 0), { model: 'real', samples: 1, accuracy: 0, degraded: false });
  assert.equal(perf.accuracy('junk-0'), undefined, 'the oldest was forgotten');
});

test('accuracy windows of named models are never evicted', () => {
  const { detectors } = make({ maxModels: 10 }, ['real']);
  detectors.recordFeedback('real', 1, 1);
  for (let i = 0; i < 100; i++) detectors.recordFeedback(`junk-${i}`, 1, 1);
  assert.equal(detectors.trackedModels().performance, 11);
  assert.equal(detectors.recordFeedback('real', 1, 1).samples, 2);
});

test('warden_detector_accuracy: one series per named model and one "other" for every made-up name', async () => {
  const { detectors, registry } = make({}, ['real', '*']);
  for (let i = 0; i < 500; i++) detectors.recordFeedback(`junk-${i}`, 1, 0);
  detectors.recordFeedback('real', 1, 1);
  const series = accuracySeries(await registry.metrics()).sort();
  assert.deepEqual(series, ['warden_detector_accuracy{model="other"} 0', 'warden_detector_accuracy{model="real"} 1']);
});
