import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runDifferential } from './differential.js';

test('differential: the compiled evaluator matches cedar-wasm on 2,000 generated cases', () => {
  const s = runDifferential({ cases: 2000, seed: 7 });
  assert.equal(s.mismatchCount, 0, JSON.stringify(s.mismatches[0], null, 1));
  assert.equal(s.fallbackSets, 0);
  // The generator must keep exercising every outcome, or the comparison proves little.
  assert.ok(s.allows > 50, `allows ${s.allows}`);
  assert.ok(s.casesWithErrors > 50, `errors ${s.casesWithErrors}`);
  assert.ok(s.unparseable < s.scenarios / 20, `unparseable ${s.unparseable}`);
});

test('differential: a second seed', () => {
  const s = runDifferential({ cases: 500, seed: 99 });
  assert.equal(s.mismatchCount, 0, JSON.stringify(s.mismatches[0], null, 1));
});
