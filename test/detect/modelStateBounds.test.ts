import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDetectors } from '../../src/detect/index.js';
import { configSchema } from '../../src/config/index.js';

// Model names come from clients: per-model detector state must stay bounded whatever names they
// make up, without letting a flood of names reset the state of the models the operator named.

function make(detect: Record<string, unknown>, models: string[]) {
  const config = configSchema.parse({ detect }).detect;
  return { detectors: createDetectors(config, { emit: () => undefined, models }) };
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
