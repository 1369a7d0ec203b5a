import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { findSensitive, redactText, StreamRedactor, luhnValid, ssnValid, shannonEntropy } from '../../src/detect/index.js';
import { generateCards, generateIbans, generateSsns, generateSecrets } from './helpers/sensitiveValues.js';
import { mulberry32 } from './helpers/extractionLab.js';

const sentence = (v: string): string => `Please use ${v} for the order.`;

function kindsIn(text: string): string[] {
  return findSensitive(text).map((f) => f.kind);
}

test('checksums: Luhn, SSN rules, entropy', () => {
  assert.ok(luhnValid('4111111111111111'));
  assert.ok(!luhnValid('4111111111111112'));
  assert.ok(!luhnValid('41x1'));
  assert.ok(ssnValid('123', '45', '6789'));
  assert.ok(!ssnValid('000', '45', '6789') && !ssnValid('666', '45', '6789') && !ssnValid('901', '45', '6789') && !ssnValid('123', '00', '6789') && !ssnValid('123', '45', '0000'));
  assert.equal(shannonEntropy('aaaa'), 0);
  assert.equal(shannonEntropy('abcd'), 2);
});

for (const [name, gen] of [
  ['credit cards (Luhn)', () => generateCards(300, 1)],
  ['IBANs (mod-97)', () => generateIbans(120, 2)],
  ['US SSNs (SSA rules)', () => generateSsns(300, 3)],
] as const) {
  test(`${name}: every valid value found, no invalid-checksum value found`, () => {
    const { valid, invalid } = gen();
    assert.ok(valid.length >= 100);
    const missed = valid.filter((v) => !kindsIn(sentence(v.value)).includes(v.kind)).map((v) => v.value);
    assert.deepEqual(missed, []);
    const wrong = invalid.filter((v) => kindsIn(sentence(v.value)).includes(v.kind)).map((v) => v.value);
    assert.deepEqual(wrong, []);
  });
}

test('emails, phones, IPv4/IPv6 are recognised; look-alikes are not', () => {
  const positives: [string, string][] = [
    ['jane.doe+news@example.co.uk', 'email'],
    ['+1 415-555-2671', 'phone'],
    ['(415) 555-2671', 'phone'],
    ['+44 20 7946 0958', 'phone'],
    ['+49 30 901820', 'phone'],
    ['192.168.10.20', 'ip_address'],
    ['2001:db8:85a3::8a2e:370:7334', 'ip_address'],
  ];
  for (const [v, kind] of positives) assert.ok(kindsIn(sentence(v)).includes(kind), `${v} → ${kind}`);
  const negatives = ['version 1.2.3.4.5', 'on 2024-01-15 at 12:30:45', 'order 1234567890', 'call me at 555', 'in the year 2023', 'v=3.14159', '999.1.1.1', 'a hash e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'];
  for (const v of negatives) assert.deepEqual(kindsIn(v), [], v);
});

test('secrets: cloud keys, tokens, JWTs, private keys, high-entropy tokens', () => {
  for (const s of generateSecrets(4)) assert.ok(kindsIn(`config: ${s.value} end`).includes(s.kind), `${s.kind}: ${kindsIn(`config: ${s.value} end`)}`);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  assert.deepEqual(kindsIn(`here:\n${privateKey}\nthanks`), ['private_key']);
  // A JWT-shaped string whose parts are not JSON is not reported as a JWT.
  assert.ok(!kindsIn('eyJhbGciOiJub25lIn0x.eyJzdWIiOiJ4In0xxx.abcdefghijklmnopqrstu').includes('jwt'));
  // Prose and paths do not trip the entropy check.
  assert.deepEqual(kindsIn('The quick brown fox jumps over the lazy dog near /usr/local/lib/node_modules/typescript'), []);
});

test('redactText replaces values with markers and reports kinds only', () => {
  const { valid } = generateCards(1, 9);
  const text = `card ${valid[0]!.value} mail bob@example.org key AKIAIOSFODNN7EXAMPLE`;
  const r = redactText(text);
  assert.equal(r.text, 'card [REDACTED:credit_card] mail [REDACTED:email] key [REDACTED:aws_access_key]');
  assert.deepEqual(r.kinds.sort(), ['aws_access_key', 'credit_card', 'email']);
  assert.deepEqual(redactText('nothing here'), { text: 'nothing here', kinds: [] });
});

function streamThrough(text: string, chunks: number[]): { out: string; kinds: string[] } {
  const r = new StreamRedactor();
  let out = '';
  let pos = 0;
  for (const size of chunks) {
    out += r.push(text.slice(pos, pos + size));
    pos += size;
  }
  out += r.push(text.slice(pos));
  out += r.flush();
  return { out, kinds: r.kinds };
}

test('stream redaction across chunk boundaries equals whole-text redaction, for every split', () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  const secrets = generateSecrets(5);
  const text = [
    'Sure! Your card 4111 1111 1111 1111 is on file and the IBAN is DE89 3704 0044 0532 0130 00.',
    'Contact jane.doe@example.com or +1 415-555-2671. SSN 123-45-6789.',
    `Token ${secrets[3]!.value} and JWT ${secrets[8]!.value}.`,
    `Key:\n${privateKey}Done.`,
  ].join(' ');
  const expected = redactText(text).text;
  const raw = ['4111 1111 1111 1111', 'jane.doe@example.com', '123-45-6789', secrets[3]!.value, secrets[8]!.value, privateKey.split('\n')[1]!];
  // Every single split point.
  for (let cut = 1; cut < text.length; cut += 1) {
    const { out } = streamThrough(text, [cut]);
    assert.equal(out, expected, `split at ${cut}`);
  }
  // Seeded random chunkings, including 1-character chunks.
  const rnd = mulberry32(42);
  for (let trial = 0; trial < 200; trial++) {
    const sizes: number[] = [];
    let total = 0;
    while (total < text.length) {
      const s = trial % 10 === 0 ? 1 : 1 + Math.floor(rnd() * 40);
      sizes.push(s);
      total += s;
    }
    const { out, kinds } = streamThrough(text, sizes);
    assert.equal(out, expected);
    for (const r of raw) assert.ok(!out.includes(r));
    assert.ok(kinds.includes('private_key') && kinds.includes('credit_card'));
  }
});

test('values written with look-alike characters (full-width digits, zero-width spaces) are found and redacted, whole and streamed', () => {
  const card = '４１１１ １１１１ １１１１ １１１１';
  const text = `card ${card}, key AKIA\u200bIOSFODNN7EXAMPLE, mail bob\u200b@example.com, end`;
  const whole = redactText(text);
  assert.deepEqual([...whole.kinds].sort(), ['aws_access_key', 'credit_card', 'email']);
  assert.equal(whole.text, 'card [REDACTED:credit_card], key [REDACTED:aws_access_key], mail [REDACTED:email], end');
  for (const size of [1, 3, 17]) {
    const sizes = Array.from({ length: Math.ceil(text.length / size) }, () => size);
    assert.equal(streamThrough(text, sizes).out, whole.text, `chunks of ${size}`);
  }
  // Plain non-Latin text is unaffected.
  assert.deepEqual(redactText('東京の天気は晴れです。').kinds, []);
});

test('assignments with whitespace gaps: a stream and a whole text agree, whatever the gap', () => {
  for (const gap of [0, 1, 16, 17, 80]) {
    const text = `password:${' '.repeat(gap)}hunter2hunter2 and aws_secret_access_key =${' '.repeat(gap)}${'A'.repeat(40)} end`;
    const whole = redactText(text).text;
    for (const size of [1, 5, 33]) {
      const sizes = Array.from({ length: Math.ceil(text.length / size) }, () => size);
      assert.equal(streamThrough(text, sizes).out, whole, `gap ${gap}, chunks of ${size}`);
    }
    if (gap <= 16) assert.ok(!whole.includes('hunter2hunter2'), `gap ${gap} is redacted`);
  }
});

test('stream redactor: truncated key block and oversized opaque runs never leak', () => {
  const r = new StreamRedactor();
  const out = r.push('ok -----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg') + r.flush();
  assert.equal(out, 'ok [REDACTED:private_key]');
  const big = new StreamRedactor({ maxBuffer: 1000 });
  const run = 'Zx9'.repeat(2000);
  let o = big.push('start ');
  for (let i = 0; i < run.length; i += 100) o += big.push(run.slice(i, i + 100));
  o += big.push(' tail text that is fine') + big.flush();
  assert.ok(!o.includes('Zx9Zx9'), o.slice(0, 80));
  assert.match(o, /^start \[REDACTED:high_entropy_token\]/);
  assert.match(o, /tail text that is fine$/);
});

test('stream redactor: an unterminated key block is held whole, then redacted and swallowed past the size limit', () => {
  const r = new StreamRedactor();
  let out = r.push('Here is text before. ');
  out += r.push('-----BEGIN RSA PRIVATE KEY-----\n');
  const line = 'MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MbzTn0F4bH0xQZx1\n';
  for (let i = 0; i < 50; i++) out += r.push(line);
  assert.equal(out, 'Here is text before. ', 'text before the block is released, nothing of the open block');
  for (let i = 0; i < 350; i++) out += r.push(line);
  assert.equal(out, 'Here is text before. [REDACTED:private_key]', 'past 16 KiB the open block is redacted whole');
  out += r.push('-----END RSA PRIVATE KEY-----\nafter the key');
  out += r.flush();
  assert.ok(!out.includes('MIIEow'));
  assert.equal(out, 'Here is text before. [REDACTED:private_key]\nafter the key');
});

test('pre-checks: a text that only just holds a finding (minLength long, with its needs and hint) is found by every recognizer', async () => {
  const { recognizers } = await import('../../src/detect/pii/findSensitive.js');
  let card = '';
  for (let d = 0; d < 10 && !card; d++) if (luhnValid(`50000000001${d}`)) card = `50000000001${d}`;
  // In recognizer order: each is exactly the shortest text that recognizer reports.
  const shortest = [
    '-----BEGIN PRIVATE KEY----------END PRIVATE KEY-----',
    'AKIAABCDEFGHIJKLMNOP',
    'awssecretaccesskey=' + 'aB3/'.repeat(10),
    'AIza' + 'aB3_-'.repeat(7),
    'github_pat_' + 'aB3'.repeat(7) + 'x',
    'xoxb-1234567890',
    'sk_live_' + 'aB3'.repeat(8),
    'sk-' + 'aB3_-'.repeat(4),
    'AccountKey=' + 'aB3/+'.repeat(17) + 'x==',
    'eyJhYiI6MX0.eyJhYiI6MX0.abcdefghijklmnop',
    'pwd=abcdefgh',
    'NO9386011117947',
    card,
    '123-45-6789',
    'a@b.cc',
    '+49301234',
    '1.2.3.4',
    '::',
    'aB3dE5gH7jK9mN1p',
  ];
  assert.equal(shortest.length, recognizers.length);
  recognizers.forEach((r, i) => {
    const text = shortest[i]!;
    assert.equal(text.length, r.minLength, r.kind);
    assert.deepEqual(findSensitive(text, { minTokenLength: 16 }), [{ kind: r.kind, category: r.category, start: 0, end: text.length }], r.kind);
    // Inside other text too (the pre-checks look at the whole text).
    assert.deepEqual(findSensitive(`x ${text} y`, { minTokenLength: 16 }).map((f) => f.kind), [r.kind], r.kind);
  });
  for (const v6 of ['1::', '::1', 'a:b::c', 'fe80::1', '2001:db8:0:0:0:0:2:1']) assert.deepEqual(kindsIn(`at ${v6} now`), ['ip_address'], v6);
  // One character short of the shortest e-mail, SSN and IPv4.
  assert.deepEqual([kindsIn('a@b.c'), kindsIn('123-45-678'), kindsIn('1.2.3.')], [[], [], []]);
});
