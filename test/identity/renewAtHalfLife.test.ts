import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { renewAtHalfLife } from '../../src/identity/index.js';

const HOUR = 3_600_000;
const at = (ms: number): Date => new Date(Date.now() + ms);

/** Lets the renewal's promise callbacks run after a fake timer fired. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

function fakeClock(t: { after(fn: () => void): void }): void {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  t.after(() => mock.timers.reset());
}

test('renews at half of the remaining lifetime, then again from the fresh certificate', async (t) => {
  fakeClock(t);
  const applied: Date[] = [];
  let issued = 0;
  const renewal = renewAtHalfLife(at(2 * HOUR), {
    issue: async () => (issued++, at(4 * HOUR)),
    notAfterOf: (d) => d,
    apply: (d) => applied.push(d),
    onError: (err) => assert.fail(String(err)),
  });
  t.after(() => renewal.stop());
  mock.timers.tick(HOUR - 1);
  await settle();
  assert.equal(issued, 0, 'not before half-life');
  mock.timers.tick(1);
  await settle();
  assert.equal(issued, 1);
  assert.equal(applied.length, 1);
  mock.timers.tick(2 * HOUR); // half of the fresh certificate's 4 h
  await settle();
  assert.equal(issued, 2);
});

test('a failed renewal retries within 30 s while the certificate is valid, and every 30 s once it expired', async (t) => {
  fakeClock(t);
  const errors: unknown[] = [];
  let calls = 0;
  const renewal = renewAtHalfLife(at(10 * 60_000), {
    issue: async () => {
      calls++;
      throw new Error('control plane down');
    },
    notAfterOf: (d: Date) => d,
    apply: () => assert.fail('nothing to apply'),
    onError: (err) => errors.push(err),
  });
  t.after(() => renewal.stop());
  mock.timers.tick(5 * 60_000);
  await settle();
  assert.equal(calls, 1);
  mock.timers.tick(30_000);
  await settle();
  assert.equal(calls, 2, 'retried after 30 s, not after half of the 5 min left');
  mock.timers.tick(10 * 60_000); // well past expiry: the retries stay 30 s apart
  await settle();
  const before = calls;
  mock.timers.tick(29_000);
  await settle();
  assert.equal(calls, before, 'an expired certificate does not make it spin');
  mock.timers.tick(1000);
  await settle();
  assert.equal(calls, before + 1);
  assert.equal(errors.length, calls);
});

test('stop() discards an issuance in flight and arms nothing again', async (t) => {
  fakeClock(t);
  let release: (d: Date) => void = () => {};
  let calls = 0;
  const applied: Date[] = [];
  const renewal = renewAtHalfLife(at(HOUR), {
    issue: () => (calls++, new Promise<Date>((resolve) => (release = resolve))),
    notAfterOf: (d) => d,
    apply: (d) => applied.push(d),
    onError: (err) => assert.fail(String(err)),
  });
  mock.timers.tick(HOUR / 2);
  await settle();
  assert.equal(calls, 1);
  renewal.stop();
  release(at(HOUR));
  await settle();
  mock.timers.tick(10 * HOUR);
  await settle();
  assert.deepEqual(applied, []);
  assert.equal(calls, 1);
});

test('without a known expiry nothing is scheduled', async (t) => {
  fakeClock(t);
  let calls = 0;
  renewAtHalfLife(null, { issue: async () => (calls++, null), notAfterOf: () => null, apply: () => {}, onError: () => {} });
  mock.timers.tick(100 * HOUR);
  await settle();
  assert.equal(calls, 0);
});

test('a certificate that cannot be applied is a failed renewal: reported and retried, the process lives on', async (t) => {
  fakeClock(t);
  const errors: unknown[] = [];
  let calls = 0;
  const renewal = renewAtHalfLife(at(HOUR), {
    issue: async () => (calls++, at(HOUR)),
    notAfterOf: (d) => d,
    apply: () => {
      throw new Error('key does not match certificate');
    },
    onError: (err) => errors.push(err),
  });
  t.after(() => renewal.stop());
  mock.timers.tick(HOUR / 2);
  await settle();
  assert.equal(calls, 1);
  assert.match(String(errors[0]), /key does not match/);
  mock.timers.tick(30_000); // retried within 30 s, not at the failed certificate's half-life
  await settle();
  assert.equal(calls, 2);
});

test('renewNow() renews at once, replaces the pending timer, then follows the fresh certificate', async (t) => {
  fakeClock(t);
  let issued = 0;
  const applied: Date[] = [];
  const renewal = renewAtHalfLife(at(2 * HOUR), {
    issue: async () => (issued++, at(4 * HOUR)),
    notAfterOf: (d) => d,
    apply: (d) => applied.push(d),
    onError: (err) => assert.fail(String(err)),
  });
  t.after(() => renewal.stop());
  mock.timers.tick(10 * 60_000);
  assert.equal(renewal.renewNow(), true);
  await settle();
  assert.equal(issued, 1, 'issued at once, not at the half-life 50 min later');
  assert.equal(applied.length, 1);
  mock.timers.tick(HOUR); // the old certificate's half-life: that timer was replaced
  await settle();
  assert.equal(issued, 1);
  mock.timers.tick(HOUR); // half of the fresh 4 h
  await settle();
  assert.equal(issued, 2);
});

test('renewNow() does not start a second renewal while one is in flight, and nothing after stop()', async (t) => {
  fakeClock(t);
  let release: (d: Date) => void = () => {};
  let calls = 0;
  const applied: Date[] = [];
  const renewal = renewAtHalfLife(at(HOUR), {
    issue: () => (calls++, new Promise<Date>((resolve) => (release = resolve))),
    notAfterOf: (d) => d,
    apply: (d) => applied.push(d),
    onError: (err) => assert.fail(String(err)),
  });
  t.after(() => renewal.stop());
  assert.equal(renewal.renewNow(), true);
  assert.equal(renewal.renewNow(), false, 'coalesced with the renewal in flight');
  mock.timers.tick(HOUR / 2); // the replaced half-life timer does not issue either
  await settle();
  assert.equal(calls, 1);
  release(at(2 * HOUR));
  await settle();
  assert.equal(applied.length, 1);
  assert.equal(renewal.renewNow(), true, 'a new one once the last has settled');
  assert.equal(calls, 2);
  release(at(2 * HOUR));
  await settle();
  renewal.stop();
  assert.equal(renewal.renewNow(), false);
  assert.equal(calls, 2);
});

test('a failed renewNow() keeps the retry schedule of a failed renewal', async (t) => {
  fakeClock(t);
  let calls = 0;
  const errors: unknown[] = [];
  const renewal = renewAtHalfLife(at(2 * HOUR), {
    issue: async () => {
      calls++;
      throw new Error('control plane down');
    },
    notAfterOf: (d: Date) => d,
    apply: () => assert.fail('nothing to apply'),
    onError: (err) => errors.push(err),
  });
  t.after(() => renewal.stop());
  renewal.renewNow();
  await settle();
  assert.equal(calls, 1);
  mock.timers.tick(29_999);
  await settle();
  assert.equal(calls, 1);
  mock.timers.tick(1);
  await settle();
  assert.equal(calls, 2, 'retried after 30 s');
  assert.equal(errors.length, 2);
});
