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

/** A 2 h certificate whose renewals each get a fresh 4 h one. */
function issuingRenewal() {
  const issuing = { issued: 0, applied: [] as Date[] };
  const renewal = renewAtHalfLife(at(2 * HOUR), {
    issue: async () => (issuing.issued++, at(4 * HOUR)),
    notAfterOf: (d) => d,
    apply: (d) => issuing.applied.push(d),
    onError: (err) => assert.fail(String(err)),
  });
  return { renewal, issuing };
}

test('renews at half of the remaining lifetime, then again from the fresh certificate', async (t) => {
  fakeClock(t);
  const { renewal, issuing } = issuingRenewal();
  t.after(() => renewal.stop());
  mock.timers.tick(HOUR - 1);
  await settle();
  assert.equal(issuing.issued, 0, 'not before half-life');
  mock.timers.tick(1);
  await settle();
  assert.equal(issuing.issued, 1);
  assert.equal(issuing.applied.length, 1);
  mock.timers.tick(2 * HOUR); // half of the fresh certificate's 4 h
  await settle();
  assert.equal(issuing.issued, 2);
});

/** A renewal whose every issuance fails (the control plane is down). */
function failingRenewal(notAfter: Date) {
  const failing = { calls: 0, errors: [] as unknown[] };
  const renewal = renewAtHalfLife(notAfter, {
    issue: async () => {
      failing.calls++;
      throw new Error('control plane down');
    },
    notAfterOf: (d: Date) => d,
    apply: () => assert.fail('nothing to apply'),
    onError: (err) => failing.errors.push(err),
  });
  return { renewal, failing };
}

test('a failed renewal retries within 30 s while the certificate is valid, and every 30 s once it expired', async (t) => {
  fakeClock(t);
  const { renewal, failing } = failingRenewal(at(10 * 60_000));
  t.after(() => renewal.stop());
  mock.timers.tick(5 * 60_000);
  await settle();
  assert.equal(failing.calls, 1);
  mock.timers.tick(30_000);
  await settle();
  assert.equal(failing.calls, 2, 'retried after 30 s, not after half of the 5 min left');
  mock.timers.tick(10 * 60_000); // well past expiry: the retries stay 30 s apart
  await settle();
  const before = failing.calls;
  mock.timers.tick(29_000);
  await settle();
  assert.equal(failing.calls, before, 'an expired certificate does not make it spin');
  mock.timers.tick(1000);
  await settle();
  assert.equal(failing.calls, before + 1);
  assert.equal(failing.errors.length, failing.calls);
});

/** A renewal whose issuance waits until the test calls gate.release(notAfter). */
function gatedRenewal(notAfter: Date) {
  const gate = { calls: 0, applied: [] as Date[], release: (_d: Date): void => {} };
  const renewal = renewAtHalfLife(notAfter, {
    issue: () => (gate.calls++, new Promise<Date>((resolve) => (gate.release = resolve))),
    notAfterOf: (d) => d,
    apply: (d) => gate.applied.push(d),
    onError: (err) => assert.fail(String(err)),
  });
  return { renewal, gate };
}

test('stop() discards an issuance in flight and arms nothing again', async (t) => {
  fakeClock(t);
  const { renewal, gate } = gatedRenewal(at(HOUR));
  mock.timers.tick(HOUR / 2);
  await settle();
  assert.equal(gate.calls, 1);
  renewal.stop();
  gate.release(at(HOUR));
  await settle();
  mock.timers.tick(10 * HOUR);
  await settle();
  assert.deepEqual(gate.applied, []);
  assert.equal(gate.calls, 1);
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
  const { renewal, issuing } = issuingRenewal();
  t.after(() => renewal.stop());
  mock.timers.tick(10 * 60_000);
  assert.equal(renewal.renewNow(), true);
  await settle();
  assert.equal(issuing.issued, 1, 'issuing.issued at once, not at the half-life 50 min later');
  assert.equal(issuing.applied.length, 1);
  mock.timers.tick(HOUR); // the old certificate's half-life: that timer was replaced
  await settle();
  assert.equal(issuing.issued, 1);
  mock.timers.tick(HOUR); // half of the fresh 4 h
  await settle();
  assert.equal(issuing.issued, 2);
});

test('renewNow() does not start a second renewal while one is in flight, and nothing after stop()', async (t) => {
  fakeClock(t);
  const { renewal, gate } = gatedRenewal(at(HOUR));
  t.after(() => renewal.stop());
  assert.equal(renewal.renewNow(), true);
  assert.equal(renewal.renewNow(), false, 'coalesced with the renewal in flight');
  mock.timers.tick(HOUR / 2); // the replaced half-life timer does not issue either
  await settle();
  assert.equal(gate.calls, 1);
  gate.release(at(2 * HOUR));
  await settle();
  assert.equal(gate.applied.length, 1);
  assert.equal(renewal.renewNow(), true, 'a new one once the last has settled');
  assert.equal(gate.calls, 2);
  gate.release(at(2 * HOUR));
  await settle();
  renewal.stop();
  assert.equal(renewal.renewNow(), false);
  assert.equal(gate.calls, 2);
});

test('a failed renewNow() keeps the retry schedule of a failed renewal', async (t) => {
  fakeClock(t);
  const { renewal, failing } = failingRenewal(at(2 * HOUR));
  t.after(() => renewal.stop());
  renewal.renewNow();
  await settle();
  assert.equal(failing.calls, 1);
  mock.timers.tick(29_999);
  await settle();
  assert.equal(failing.calls, 1);
  mock.timers.tick(1);
  await settle();
  assert.equal(failing.calls, 2, 'retried after 30 s');
  assert.equal(failing.errors.length, 2);
});
