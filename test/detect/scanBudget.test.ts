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
  const n = spent(() => {
    for (let i = 0; i < 40; i++) {
      first.push(`${phones(8)} `);
      second.push(`${phones(8)} `);
    }
    released = first.push('call +1 415-555-2671 now ') + first.flush();
    second.flush();
  });
  assert.ok(n <= PHONE_CHECKS_PER_SCAN, `${n} phone validations for one stream`);
  assert.ok(!released.includes('555-2671'));
});
