import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config/index.js';
import { createRateLimitPolicy, RateLimitedError } from '../../../src/gateway/ratelimit/index.js';
import { createAuthenticators } from '../../../src/gateway/authn/index.js';
import { RequestValidator } from '../../../src/gateway/validate/index.js';

function load(overrides: Record<string, unknown>, env: Record<string, string> = {}): ReturnType<typeof loadConfig> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-gw-cfg-'));
  try {
    return loadConfig({ dataDir: dir, cwd: dir, env, overrides });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('gateway config: defaults, rules and issuers parse and feed the factories', async () => {
  const defaults = load({});
  assert.equal(defaults.gateway.rateLimit.backend, 'memory');
  assert.equal(defaults.gateway.rateLimit.onStoreDown, 'fail-closed');
  assert.deepEqual(defaults.gateway.authn, { jwtIssuers: [], jwtSvidAudience: null, mtls: false, revocationMaxStaleSeconds: 30 });
  assert.equal(defaults.gateway.validation.maxMessages, 1024);

  const config = load({
    gateway: {
      rateLimit: { rules: [{ match: { principal: '*' }, requestsPerMinute: 60, burst: 2 }] },
      authn: { jwtIssuers: [{ issuer: 'https://idp.test', audience: 'gw', jwksUri: 'https://idp.test/jwks' }] },
      validation: { maxMessages: 4 },
    },
  });
  assert.equal(config.gateway.authn.jwtIssuers[0]!.jwksCacheMaxAgeSeconds, 3600);
  const rl = createRateLimitPolicy(config.gateway.rateLimit);
  await rl.ready();
  const s = { principal: 'User::"a"', key: null, tenant: null, model: 'm', estimatedTokens: 0 };
  await rl.policy.check(s);
  await rl.policy.check(s);
  await assert.rejects(Promise.resolve().then(() => rl.policy.check(s)), (e: unknown) => e instanceof RateLimitedError && e.status === 429);
  await rl.close();
  const authn = createAuthenticators(config.gateway.authn, null);
  assert.ok(authn.jwt && authn.bearer.enabled && authn.mtls === null);
  const v = new RequestValidator(config.gateway.validation);
  assert.throws(() => v.validate('openai.chat', { model: 'm', messages: Array(5).fill({ role: 'user', content: 'x' }) }), { message: 'messages: more than 4 messages' });
});

test('gateway config: bad rate-limit and issuer settings are refused with the key path; env overrides work', () => {
  assert.throws(() => load({ gateway: { rateLimit: { rules: [{ match: { user: 'x' }, requestsPerMinute: 1 }] } } }), { code: 'WARDEN_CONFIG_INVALID', message: /gateway\.rateLimit\.rules\.0\.match\.user: unknown key/ });
  assert.throws(() => load({ gateway: { rateLimit: { backend: 'memcached' } } }), { code: 'WARDEN_CONFIG_INVALID', message: /gateway\.rateLimit\.backend/ });
  assert.throws(() => load({ gateway: { authn: { jwtIssuers: [{ issuer: 'i', audience: 'a', jwksUri: 'https://x/j', allowedAlgorithms: ['HS256'] }] } } }), { code: 'WARDEN_CONFIG_INVALID', message: /allowedAlgorithms/ });
  // Two IdPs with the same entity types could speak for each other's users, groups and tenants.
  const corp = { issuer: 'https://corp.test', audience: 'gw', jwksUri: 'https://corp.test/jwks' };
  const partner = { issuer: 'https://partner.test', audience: 'gw', jwksUri: 'https://partner.test/jwks' };
  assert.throws(() => load({ gateway: { authn: { jwtIssuers: [corp, partner] } } }), { code: 'WARDEN_CONFIG_INVALID', message: /jwtIssuers\.1\.principalType: entity type User is already used by issuer "https:\/\/corp\.test"/ });
  assert.throws(() => load({ gateway: { authn: { jwtIssuers: [corp, { ...partner, principalType: 'PartnerUser', groupType: 'PartnerGroup' }] } } }), { code: 'WARDEN_CONFIG_INVALID', message: /jwtIssuers\.1\.tenantType: entity type Tenant/ });
  assert.throws(() => load({ gateway: { authn: { jwtIssuers: [corp, { ...partner, principalType: 'Group', groupType: 'PartnerGroup', tenantType: 'PartnerTenant' }] } } }), { code: 'WARDEN_CONFIG_INVALID', message: /jwtIssuers\.1\.principalType: entity type Group/ }, 'across kinds too');
  assert.throws(() => load({ gateway: { authn: { jwtIssuers: [corp, { ...corp, principalType: 'B', groupType: 'BG', tenantType: 'BT' }] } } }), { code: 'WARDEN_CONFIG_INVALID', message: /jwtIssuers\.1\.issuer: issuer "https:\/\/corp\.test" is configured twice/ });
  assert.throws(() => load({ gateway: { authn: { jwtIssuers: [{ ...corp, principalType: 'Service' }] } } }), { code: 'WARDEN_CONFIG_INVALID', message: /principalType: must not be one of Warden's own entity types/ }, 'an IdP subject is never a workload');
  const two = load({ gateway: { authn: { jwtIssuers: [corp, { ...partner, principalType: 'PartnerUser', groupType: 'PartnerGroup', tenantType: 'PartnerTenant' }] } } });
  assert.equal(two.gateway.authn.jwtIssuers[1]!.tenantType, 'PartnerTenant');
  const env = load({}, { WARDEN_GATEWAY_RATE_LIMIT_BACKEND: 'redis', WARDEN_GATEWAY_RATE_LIMIT_REDIS_URL: 'redis://10.0.0.5:6379', WARDEN_GATEWAY_VALIDATION_MAX_MESSAGES: '12' });
  assert.equal(env.gateway.rateLimit.backend, 'redis');
  assert.equal(env.gateway.rateLimit.redisUrl, 'redis://10.0.0.5:6379');
  assert.equal(env.gateway.validation.maxMessages, 12);
});
