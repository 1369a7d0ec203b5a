import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSpiffeId, spiffeIdMatches, spiffePathValue } from '../../src/identity/index.js';

// Vectors from the SPIFFE-ID specification §2 (and go-spiffe's spiffeid tests).
const valid = [
  ['spiffe://example.org/workload', 'example.org', '/workload'],
  ['spiffe://prod.acme.com/ns/ml/sa/trainer', 'prod.acme.com', '/ns/ml/sa/trainer'],
  ['spiffe://td_with-chars.0/A.b_c-D/9', 'td_with-chars.0', '/A.b_c-D/9'],
] as const;
const invalid = [
  '',
  'http://example.org/workload',
  'SPIFFE://example.org/workload',
  'spiffe:///workload',
  'spiffe://Example.org/workload',
  'spiffe://example.org:8080/workload',
  'spiffe://user@example.org/workload',
  'spiffe://example.org/',
  'spiffe://example.org/a//b',
  'spiffe://example.org/a/./b',
  'spiffe://example.org/a/../b',
  'spiffe://example.org/a?b=c',
  'spiffe://example.org/a#frag',
  'spiffe://example.org/a%20b',
  'spiffe://example.org/a b',
  'spiffe://example.org',
  'spiffe://example.org/' + 'a'.repeat(2048),
];

test('parses valid SPIFFE IDs', () => {
  for (const [id, td, path] of valid) {
    const p = parseSpiffeId(id);
    assert.equal(p.trustDomain, td);
    assert.equal(p.path, path);
  }
  assert.equal(parseSpiffeId('spiffe://example.org', { allowTrustDomainOnly: true }).path, '');
});

test('rejects invalid SPIFFE IDs with WARDEN_IDENTITY_SPIFFE_ID_INVALID', () => {
  for (const id of invalid) {
    assert.throws(() => parseSpiffeId(id), { code: 'WARDEN_IDENTITY_SPIFFE_ID_INVALID' }, id);
  }
});

test('patterns match exact IDs and subtrees, never siblings', () => {
  assert.ok(spiffeIdMatches('spiffe://td/prod/*', 'spiffe://td/prod/api'));
  assert.ok(!spiffeIdMatches('spiffe://td/prod/*', 'spiffe://td/production/api'));
  assert.ok(spiffeIdMatches('spiffe://td/a', 'spiffe://td/a'));
  assert.ok(!spiffeIdMatches('spiffe://td/a', 'spiffe://td/a/b'));
  assert.equal(spiffePathValue('spiffe://td/env/prod/svc/a', 'env'), 'prod');
  assert.equal(spiffePathValue('spiffe://td/svc/a', 'env'), undefined);
});
