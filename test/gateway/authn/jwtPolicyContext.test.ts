import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { upstreamConfig } from '../../../src/config/index.js';
import { createAuthenticators } from '../../../src/gateway/index.js';
import { permitAllSnapshots } from '../../helpers/gatewaySnapshot.js';
import { startTestGateway, TEST_KEY, TEST_SECRET } from '../../helpers/inProcessGateway.js';
import { TestIssuer, makeKey } from './helpers.js';

test('what a JWT proves reaches the Cedar request: context.mfa from amr, groups as parents', async (t) => {
  const issuer = await new TestIssuer('https://idp.example').start();
  t.after(() => issuer.stop());
  const key = await makeKey('k1');
  issuer.keys.push(key);
  const authn = createAuthenticators({ jwtIssuers: [{ issuer: issuer.issuer, audience: 'warden-gateway', jwksUri: issuer.url }], jwtSvidAudience: null, mtls: false }, null);
  await authn.jwt!.warm();
  const upstreams = [upstreamConfig.parse({ name: 'u', url: 'http://127.0.0.1:9', models: ['m'] })];
  const policies = 'permit(principal in Group::"staff", action, resource) when { context.mfa };';
  const gw = await startTestGateway({ upstreams, authn, snapshots: permitAllSnapshots(TEST_SECRET, TEST_KEY, undefined, policies) });
  t.after(() => gw.close(0));
  // /v1/models lists what the caller may invoke: the same Cedar request as an invocation.
  const models = async (claims: Record<string, unknown>) => {
    const token = await issuer.sign(key, { sub: 'alice', nowSeconds: Math.floor(Date.now() / 1000), claims });
    const r = await request(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${token}` } });
    return ((await r.body.json()) as { data: { id: string }[] }).data.map((m) => m.id);
  };
  assert.deepEqual(await models({ groups: ['staff'], amr: ['pwd', 'otp', 'mfa'] }), ['m']);
  assert.deepEqual(await models({ groups: ['staff'], amr: ['pwd'] }), [], 'no second factor');
  assert.deepEqual(await models({ groups: ['other'], amr: ['mfa'] }), [], 'not in the group');
});
