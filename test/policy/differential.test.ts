import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runDifferential } from './differential.js';

test('differential: the compiled evaluator matches cedar-wasm on 2,500 generated cases', () => {
  const s = runDifferential({ cases: 2500, seed: 7 });
  assert.equal(s.mismatchCount, 0, JSON.stringify(s.mismatches[0], null, 1));
  assert.equal(s.fallbackSets, 0);
  // The generator must keep exercising every outcome, or the comparison proves little.
  assert.ok(s.allows > 60, `allows ${s.allows}`);
  assert.ok(s.casesWithErrors > 60, `errors ${s.casesWithErrors}`);
  assert.ok(s.unparseable < s.scenarios / 20, `unparseable ${s.unparseable}`);
});

test('differential: a second seed', () => {
  const s = runDifferential({ cases: 1000, seed: 99 });
  assert.equal(s.mismatchCount, 0, JSON.stringify(s.mismatches[0], null, 1));
});
