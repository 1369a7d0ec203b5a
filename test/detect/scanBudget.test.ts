import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { createDetectors, createGatewayGuards, findSensitive } from '../../src/detect/index.js';
import { createScanBudget, phoneValidationCount, PHONE_CHECKS_PER_SCAN } from '../../src/detect/pii/findSensitive.js';
import { configSchema } from '../../src/config/index.js';
import { phones } from '../helpers/phones.js';

// Phone numbers are the one expensive check (libphonenumber metadata, ~50 µs). Its budget covers
// what a guard reads for one request, one answer or one stream, however many texts that is:
// counted here in validations made (phoneValidationCount), not in time.


function spent(f: () => void): number {
  const before = phoneValidationCount();
  f();
  return phoneValidationCount() - before;
}

const detectors = () => createDetectors(configSchema.parse({}).detect, { emit: () => undefined, registry: new Registry() });
const ctxOf = (kind: string) => ({ route: { kind, model: 'm' }, json: { model: 'm' }, body: null, principal: { id: 'p' }, verdicts: null });

test('one budget shared by many texts bounds their phone validations; past it a candidate counts as a phone', () => {
  const budget = createScanBudget();
  const texts = Array.from({ length: 20 }, () => phones(40));
  let found = 0;
  const n = spent(() => {
    for (const t of texts) found += findSensitive(t, {}, budget).filter((f) => f.kind === 'phone').length;
  });
  assert.equal(n, PHONE_CHECKS_PER_SCAN);
  assert.equal(budget.phoneChecks, 0);
  // Every candidate past the budget is reported (over-redaction, never a number let through).
  assert.ok(found >= 20 * 40 - PHONE_CHECKS_PER_SCAN, `${found} phone findings`);
  // Without a budget, each call gets its own.
  assert.equal(spent(() => findSensitive(phones(10))), 10);
});

test('inspectChat and redactChat spend one budget per request, not per message; the first message is still inspected', () => {
  const d = detectors();
  const messages = [{ role: 'user', content: 'reach me at +1 415-555-2671, ssn 078-05-1120' }, ...Array.from({ length: 300 }, () => ({ role: 'user', content: phones(40) }))];
  let verdicts: { detector: string; kinds?: string[] }[] = [];
  assert.ok(spent(() => (verdicts = d.inspectChat(messages, 'm'))) <= PHONE_CHECKS_PER_SCAN);
  assert.deepEqual(verdicts.find((v) => v.detector === 'pii')?.kinds?.sort(), ['phone', 'us_ssn']);
  let redacted: { content?: unknown }[] = [];
  assert.ok(spent(() => (redacted = d.redactChat(messages).messages)) <= PHONE_CHECKS_PER_SCAN);
  assert.equal(redacted[0]!.content, 'reach me at [REDACTED:phone], ssn [REDACTED:us_ssn]');
});

test('a completion answer spends one budget over all its choices and fields', () => {
  const guards = createGatewayGuards(detectors());
  const choices = Array.from({ length: 8 }, (_, index) => ({ index, message: { role: 'assistant', content: phones(40), reasoning_content: phones(40) }, finish_reason: 'stop' }));
  choices[0]!.message.content = 'call +1 415-555-2671';
  let out: { choices: { message: { content: string } }[] } | undefined;
  const n = spent(() => (out = guards.transformJson(ctxOf('openai.chat'), { id: 'x', choices }) as typeof out));
  assert.ok(n <= PHONE_CHECKS_PER_SCAN, `${n} phone validations for one answer`);
  assert.equal(out!.choices[0]!.message.content, 'call [REDACTED:phone]');
});

test('a stream spends one budget over all its redactors and chunks', () => {
  const guards = createGatewayGuards(detectors());
  const ctx = ctxOf('openai.chat');
  const first = guards.streamTransformer(ctx)!;
  const second = guards.streamTransformer(ctx)!;
  let released = '';
  let chars = 0;
  const n = spent(() => {
    for (let i = 0; i < 40; i++) {
      const [a, b] = [`${phones(8)} `, `${phones(8)} `];
      chars += a.length + b.length;
      first.push(a);
      second.push(b);
    }
    released = first.push('call +1 415-555-2671 now ') + first.flush();
    second.flush();
  });
  // The budget grows by one check per 256 characters the stream passes: linear in its length.
  assert.ok(n <= PHONE_CHECKS_PER_SCAN + Math.ceil(chars / 256), `${n} phone validations for one stream of ${chars} characters`);
  assert.ok(!released.includes('555-2671'));
});

test('a spent budget does not turn dates or numbers already known not to be phones into phone numbers (a long answer of dates stays as it is)', () => {
  const spentBudget = { phoneChecks: 0 };
  const dates = Array.from({ length: 300 }, (_, i) => `row ${i}: shipped 2024-${String(1 + (i % 12)).padStart(2, '0')}-${String(1 + (i % 28)).padStart(2, '0')} ok, 17.05.2024`).join('\n');
  assert.deepEqual(findSensitive(dates, {}, spentBudget).filter((f) => f.kind === 'phone'), [], 'dates are no phone candidates');
  // A candidate validated once (not a phone: no such US area code) is remembered, budget or not.
  const notAPhone = '+1 (123) 456-7890';
  assert.equal(findSensitive(notAPhone, {}, createScanBudget()).length, 0);
  assert.equal(findSensitive(notAPhone, {}, spentBudget).length, 0, 'the memo answers before the budget is consulted');
  // A stream of such lines passes unchanged, however long.
  const guards = createGatewayGuards(detectors());
  const stream = guards.streamTransformer(ctxOf('openai.chat'))!;
  let out = '';
  for (const line of dates.split('\n')) out += stream.push(`${line}\n`);
  out += stream.flush();
  assert.equal(out, `${dates}\n`);
});

test('a stream earns phone checks with the text it passes, so a long answer is not over-redacted once the first 128 are spent', () => {
  const budget = { phoneChecks: 0 };
  const redactor = createDetectors(configSchema.parse({}).detect, { emit: () => undefined, registry: new Registry() }).createStreamRedactor(budget)!;
  redactor.push('x'.repeat(256 * 10));
  assert.equal(budget.phoneChecks, 10);
  redactor.push('y'.repeat(256 * 1000));
  assert.equal(budget.phoneChecks, 4 * PHONE_CHECKS_PER_SCAN, 'banked up to four budgets');
});
