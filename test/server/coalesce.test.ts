import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coalesce } from '../../src/server/coalesce.js';

test('coalesce: a burst during a run costs one more run, never two at once, and every call waits for a run that started after it', async () => {
  let runs = 0;
  let active = 0;
  let maxActive = 0;
  const gates: (() => void)[] = [];
  const run = coalesce(async () => {
    runs++;
    active++;
    maxActive = Math.max(maxActive, active);
    await new Promise<void>((r) => gates.push(r));
    active--;
  });
  const first = run();
  const burst = Array.from({ length: 50 }, () => run());
  assert.equal(runs, 1);
  let burstDone = false;
  void Promise.all(burst).then(() => (burstDone = true));
  gates.shift()!();
  await first;
  // The first run may have read the store before the burst's changes: one more run follows.
  while (gates.length === 0) await new Promise((r) => setImmediate(r));
  assert.equal(runs, 2);
  assert.equal(burstDone, false, 'the burst waits for the run that started after it');
  gates.shift()!();
  await Promise.all(burst);
  assert.equal(runs, 2);
  assert.equal(maxActive, 1);
  // Idle again: the next call runs at once.
  const later = run();
  assert.equal(runs, 3);
  gates.shift()!();
  await later;
});

test('coalesce: a failed run fails its callers, and the queued run still runs', async () => {
  let runs = 0;
  const run = coalesce(async () => {
    runs++;
    await new Promise((r) => setImmediate(r));
    if (runs === 1) throw new Error('store down');
  });
  const first = run();
  const queued = run();
  await assert.rejects(first, /store down/);
  await queued;
  assert.equal(runs, 2);
});
