import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dnsNameAllowed } from '../../src/server/routes/identity.js';

test('gateway DNS names for PEP tokens: exact names and one-label wildcards only', () => {
  const allow = ['localhost', '*.gw.example.com'];
  assert.ok(dnsNameAllowed('localhost', allow));
  assert.ok(dnsNameAllowed('LOCALHOST', allow));
  assert.ok(dnsNameAllowed('edge-1.gw.example.com', allow));
  assert.ok(!dnsNameAllowed('gw.example.com', allow), 'the wildcard needs a label');
  assert.ok(!dnsNameAllowed('a.b.gw.example.com', allow), 'one label only');
  assert.ok(!dnsNameAllowed('evilgw.example.com', allow));
  assert.ok(!dnsNameAllowed('cp.internal', allow));
  assert.ok(!dnsNameAllowed('localhost.attacker.net', allow));
  assert.ok(!dnsNameAllowed('anything', []));
});
