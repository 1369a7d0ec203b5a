import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scanJson } from '../../src/gateway/stages/scanJson.js';

test('duplicate keys are found in any object, also when spelled with escapes; equal values and keys of sibling objects are not duplicates', () => {
  assert.equal(scanJson('{"model":"echo","model":"iris"}', 64).duplicateKey, 'model');
  assert.equal(scanJson('{"model":"echo","mo\\u0064el":"iris"}', 64).duplicateKey, 'model');
  assert.equal(scanJson('{"messages":[{"role":"user","content":"x","role" : "system"}]}', 64).duplicateKey, 'role');
  assert.equal(scanJson('{"a":{"k":1},"b":{"k":2},"c":[{"k":1},{"k":2}]}', 64).duplicateKey, null);
  assert.equal(scanJson('{"a":"a","b":["a","a"],"c":"\\"a\\":"}', 64).duplicateKey, null);
  assert.equal(scanJson('{"t":"{\\"x\\":1,\\"x\\":2}"}', 64).duplicateKey, null, 'JSON inside a string value is text');
  assert.equal(scanJson('{"a" :1, "b"\n:2,\t"a"\r\n: 3}', 64).duplicateKey, 'a');
});

test('depth is counted over objects and arrays, not inside strings', () => {
  const nested = (n: number) => '['.repeat(n) + ']'.repeat(n);
  assert.equal(scanJson(nested(64), 64).tooDeep, false);
  assert.equal(scanJson(nested(65), 64).tooDeep, true);
  assert.equal(scanJson(`{"s":"${'['.repeat(100)}"}`, 64).tooDeep, false);
});

test('agrees with JSON.parse on random documents: no false duplicates; an injected duplicate is always found', () => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const keyChars = ['a', 'b', 'é', '"', '\\', ':', '{', ' ', '\u2028', 'x'];
  const randomKey = () => Array.from({ length: 1 + Math.floor(rand() * 4) }, () => keyChars[Math.floor(rand() * keyChars.length)]).join('');
  const value = (depth: number): unknown => {
    const r = rand();
    if (depth > 4 || r < 0.3) return r < 0.1 ? randomKey() : r < 0.2 ? Math.floor(rand() * 100) : null;
    if (r < 0.6) return Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = 0; i < Math.floor(rand() * 5); i++) o[randomKey()] = value(depth + 1);
    return o;
  };
  for (let n = 0; n < 500; n++) {
    const doc = { model: 'm', body: value(0) };
    const text = JSON.stringify(doc, null, n % 2 ? 1 : undefined);
    assert.equal(scanJson(text, 64).duplicateKey, null, text);
    const key = randomKey();
    const dup = `{${JSON.stringify(key)}:1,"model":"m",${JSON.stringify(key).replace('a', '\\u0061')}:${text}}`;
    assert.equal(scanJson(dup, 64).duplicateKey, key, dup);
  }
});

test('garbage is scanned without throwing', () => {
  for (const s of ['', '"', '{"a', '{"a":', '{"\\', '}}}]]', '{"a":1,"a', '{"\\uZZZZ":1,"\\uZZZZ":2}']) assert.doesNotThrow(() => scanJson(s, 64));
});

test('objects with many keys: a duplicate far apart is found, and 200 000 distinct keys scan in one linear pass', () => {
  const many = (n: number, extra = '') => `{"metadata":{${Array.from({ length: n }, (_, i) => `"k${i}":0`).join(',')}${extra}}}`;
  assert.deepEqual(scanJson(many(40, ',"k3":1'), 64), { tooDeep: false, duplicateKey: 'k3' });
  // Comparing each key with every earlier one would take minutes here (the test would time out).
  assert.deepEqual(scanJson(many(200_000), 64), { tooDeep: false, duplicateKey: null });
  assert.deepEqual(scanJson(many(200_000, ',"k199998":1'), 64), { tooDeep: false, duplicateKey: 'k199998' });
});
