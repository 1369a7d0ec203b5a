import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { upstreamConfig } from '../../src/config/index.js';
import { startTestGateway, TEST_KEY, TEST_SECRET } from '../helpers/inProcessGateway.js';
import { permitAllSnapshots } from '../helpers/gatewaySnapshot.js';

// GET /v1/models lists only the models the caller can invoke: a model that admission would refuse
// (unregistered where registration is enforced, or registered without a serving version) is left out,
// even though the policy allows it and an upstream serves it.
test('/v1/models: models that admission would refuse are not listed', async () => {
  const digest = `sha256:${'ab'.repeat(32)}`;
  const gw = await startTestGateway({
    upstreams: [upstreamConfig.parse({ name: 'u', url: 'http://127.0.0.1:9', models: ['free', 'enforced-unregistered', 'serving', 'not-serving', 'revoked-old'] })],
    snapshots: permitAllSnapshots(TEST_SECRET, TEST_KEY, {
      enforceAll: false,
      enforced: ['enforced-unregistered', 'serving'],
      models: {
        serving: { serving: { version: '2', digest }, revokedVersions: [], revokedDigests: [] },
        'not-serving': { serving: null, revokedVersions: ['1'], revokedDigests: [] },
        'revoked-old': { serving: { version: '3', digest }, revokedVersions: ['1'], revokedDigests: [] },
      },
    }),
  });
  try {
    const r = await request(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${TEST_KEY}` } });
    assert.equal(r.statusCode, 200);
    const body = (await r.body.json()) as { data: { id: string }[] };
    assert.deepEqual(body.data.map((m) => m.id).sort(), ['free', 'revoked-old', 'serving']);
  } finally {
    await gw.close(0);
  }
});
