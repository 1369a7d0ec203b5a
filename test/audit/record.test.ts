import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson, serializeRecord, parseAuditQuery } from '../../src/audit/index.js';

/** Reference: JSON.stringify over a copy with keys sorted at every level. */
function reference(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === 'object' && !(v instanceof Date)) {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) out[k] = sort((v as Record<string, unknown>)[k]);
      return out;
    }
    return v;
  };
  return JSON.stringify(sort(value));
}

test('canonical JSON sorts keys at every level and matches JSON.stringify semantics', () => {
  const cases: unknown[] = [
    { b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' } },
    { u: undefined, f: () => 1, n: null, arr: [undefined, () => 1, NaN, Infinity, -0, 1e21, 1e-7] },
    { date: new Date(0), nested: { when: new Date(86_400_000) } },
    { q: 'say "hi"\\ \n\t\u0001 \u2028 é 😀 \ud800', 'k"ey': 1, '': 0 },
    // Already in order (the native fast path) and near misses that must take the sorting path.
    { a: 1, b: { c: [{ d: 1, e: undefined, f: NaN }], g: 'x\u0000' }, h: null },
    { a: 1, b: Object.assign(Object.create({ inherited: 1 }) as object, { z: 1 }) },
    { a: new Date(0), b: [new Date(1)] },
    { a: { c: 1, b: 2 }, b: 1 },
    [],
    {},
    'plain',
    42,
    true,
    null,
  ];
  for (const c of cases) assert.equal(canonicalJson(c), reference(c), JSON.stringify(c));
  assert.equal(canonicalJson({ b: 1, a: 2 }), '{"a":2,"b":1}');
  // Integer-like keys: JSON.stringify emits them numerically, canonical order is by code unit.
  assert.equal(canonicalJson({ '9': 'a', '10': 'b', x: 1 }), '{"10":"b","9":"a","x":1}');
  assert.equal(canonicalJson({ a: { toJSON: () => ({ z: 1, y: 2 }) } }), '{"a":{"y":2,"z":1}}');
  assert.equal(canonicalJson({ a: 1, b: { toJSON: () => ({ z: 1, y: 2 }) } }), '{"a":1,"b":{"y":2,"z":1}}');
  assert.throws(() => canonicalJson({ n: 1n }), TypeError);
});

test('serialised records keep ordinary identifiers but never credentials', () => {
  const json = serializeRecord(
    {
      ts: '2026-01-01T00:00:00.000Z',
      kind: 'admin',
      action: 'keys.create',
      principal: 'Admin::"adm_0123456789abcdef"',
      details: {
        pem: '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----',
        token: 'wdt_adm_0123456789abcdef_' + 'x'.repeat(43),
        keyId: 'key_0011223344556677',
      },
    },
    65_536,
  );
  assert.ok(!json.includes('BEGIN PRIVATE KEY') && !json.includes('xxxxxxxxxxxxxxxxxxxx'));
  assert.ok(json.includes('"keyId":"key_0011223344556677"') && json.includes('adm_0123456789abcdef'));
  assert.throws(() => serializeRecord({ ts: 'x', kind: 'event', action: 'a', details: { big: 'é'.repeat(400) } }, 512), { code: 'WARDEN_AUDIT_RECORD_INVALID' });
});

test('query input is validated strictly', () => {
  assert.deepEqual(parseAuditQuery({ decision: 'deny', limit: '5', principal: '' }), { decision: 'deny', limit: 5 });
  assert.equal(parseAuditQuery({ since: '2026-01-01T00:00:00Z' }).since?.toISOString(), '2026-01-01T00:00:00.000Z');
  assert.throws(() => parseAuditQuery({ decision: 'maybe' }), { code: 'WARDEN_INPUT_INVALID' });
  assert.throws(() => parseAuditQuery({ kind: 'secret' }), { code: 'WARDEN_INPUT_INVALID' });
  assert.throws(() => parseAuditQuery({ limit: '10001' }), { code: 'WARDEN_INPUT_INVALID' });
  assert.throws(() => parseAuditQuery({ limit: '1.5' }), { code: 'WARDEN_INPUT_INVALID' });
  assert.throws(() => parseAuditQuery({ principal: ['a', 'b'] }), { code: 'WARDEN_INPUT_INVALID' });
  assert.throws(() => parseAuditQuery({ until: 'tomorrow' }), { code: 'WARDEN_INPUT_INVALID' });
});

test('a credential behind percent escapes is redacted in any field; malformed escapes never throw', () => {
  const key = `wdn_abcdefghijkl_${'Q'.repeat(43)}`;
  const hex = (s: string): string => [...Buffer.from(s)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
  const forms = [key.replaceAll('_', '%5F'), key.replaceAll('_', '%5f'), hex(key), key.replaceAll('_', '%255F'), `%E0%A4%A${key.replaceAll('_', '%5F')}%FF%zz%`];
  for (const form of forms) {
    const json = serializeRecord(
      { ts: '2026-01-01T00:00:00.000Z', kind: 'decision', decision: 'deny', action: `GET /v1/${form}`, model: form, resource: `Model::"${form}"`, details: { nested: [form] } },
      65_536,
    );
    assert.ok(!json.includes('QQQQQQQQ') && !json.includes(hex('QQQQQQQQ')) && !json.includes('abcdefghijkl'), `${form}: ${json}`);
    assert.match(json, /"action":"GET \/v1\/[^"]*\[REDACTED\]/);
  }
  // Escapes that hide no credential are kept exactly as they were.
  const plain = serializeRecord({ ts: '2026-01-01T00:00:00.000Z', kind: 'decision', decision: 'deny', action: 'GET /v1/a%20b%ZZ%E0%A4', model: 'org%2Fmodel' }, 65_536);
  assert.ok(plain.includes('"action":"GET /v1/a%20b%ZZ%E0%A4"') && plain.includes('"model":"org%2Fmodel"'));
});
