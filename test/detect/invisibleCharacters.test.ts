import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { createDetectors, findSensitive, normalizeText, redactText, StreamRedactor } from '../../src/detect/index.js';
import { INVISIBLE_RANGES } from '../../src/detect/text/invisibleCharacters.js';
import { configSchema } from '../../src/config/index.js';

// An invisible character inside a value hides it from a detector that keeps the character, while
// the model (and a human) read the value whole. Every detector drops the same set, and a redaction
// still replaces the value's span in the original text.

const TAGS = [0xe0000, 0xe0001, 0xe0020, 0xe0041, 0xe007f];
const invisible: string[] = [
  ...INVISIBLE_RANGES.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => String.fromCharCode(a + i))),
  ...TAGS.map((c) => String.fromCodePoint(c)),
];
const name = (ch: string): string => `U+${ch.codePointAt(0)!.toString(16).toUpperCase()}`;

test('the shared set holds what the review found missing and what the injection normaliser drops', () => {
  for (const c of [0x00ad, 0x034f, 0x061c, 0x180e, 0x200b, 0x202a, 0x202c, 0x202e, 0x2066, 0x2069, 0xfe0f, 0xfeff]) assert.ok(invisible.includes(String.fromCharCode(c)), name(String.fromCharCode(c)));
  // Tag characters are decoded there (smuggled ASCII is scored as text), the others dropped.
  for (const ch of invisible) if (ch.length === 1) assert.equal(normalizeText(`ig${ch}nore`).text, 'ignore', name(ch));
});

test('a value with an invisible character inside is found, and its redaction covers exactly the value', () => {
  for (const ch of invisible) {
    const text = `my ssn is 078-0${ch}5-1120, aws key AK${ch}IAIOSFODNN7EXAMPLE, card 4111 1111 ${ch}1111 1111, mail bob${ch}@example.org.`;
    assert.deepEqual(
      findSensitive(text).map((f) => f.kind),
      ['us_ssn', 'aws_access_key', 'credit_card', 'email'],
      name(ch),
    );
    assert.equal(
      redactText(text).text,
      'my ssn is [REDACTED:us_ssn], aws key [REDACTED:aws_access_key], card [REDACTED:credit_card], mail [REDACTED:email].',
      name(ch),
    );
    // Invisible characters around a value stay outside its span.
    assert.equal(redactText(`a ${ch}078-05-1120${ch} b`).text, `a ${ch}[REDACTED:us_ssn]${ch} b`, name(ch));
  }
});

test('the chat guard blocks a secret and redacts personal data hidden with any of them', () => {
  const d = createDetectors(configSchema.parse({}).detect, { emit: () => undefined, registry: new Registry() });
  for (const ch of invisible) {
    const verdicts = d.inspectChat([{ role: 'user', content: `my ssn is 078-0${ch}5-1120, aws key AK${ch}IAIOSFODNN7EXAMPLE` }], 'm');
    assert.deepEqual(verdicts.map((v) => `${v.detector}:${v.action}:${v.kinds?.join()}`).sort(), ['pii:redact:us_ssn', 'secrets:block:aws_access_key'], name(ch));
  }
});

test('stream redaction finds a value split by a tag character at every chunk boundary', () => {
  const tag = String.fromCodePoint(0xe0020);
  const text = `token AK${tag}IAIOSFODNN7EXAMPLE and ssn 078-0${tag}5-1120 end of the answer, padded past the hold-back window of the redactor.`;
  const whole = redactText(text).text;
  assert.ok(!whole.includes('IOSFODNN7') && !whole.includes('1120'));
  for (let cut = 1; cut < text.length; cut++) {
    const r = new StreamRedactor();
    assert.equal(r.push(text.slice(0, cut)) + r.push(text.slice(cut)) + r.flush(), whole, `split at ${cut}`);
  }
});
