import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { upstreamConfig } from '../../src/config/index.js';
import type { RunningGateway } from '../../src/gateway/index.js';
import type { Authorizer, AuthzRequest } from '../../src/policy/index.js';
import { startTestGateway, TEST_KEY, TEST_SECRET } from '../helpers/inProcessGateway.js';
import { permitAllSnapshots } from '../helpers/gatewaySnapshot.js';

// GET /v1/models/{id} must not tell an unknown id from one the caller may not invoke: not by the
// answer, and not by the work behind it (x-warden-overhead-ms would time it). Asserted without
// timing: the same authorizer calls, of the same shape, and the same 404.

const DIGEST = `sha256:${'cd'.repeat(32)}`;
const registered = { serving: { version: '1', digest: DIGEST }, revokedVersions: [], revokedDigests: [] };

let gw: RunningGateway;
const calls: AuthzRequest[] = [];

before(async () => {
  const holder = permitAllSnapshots(
    TEST_SECRET,
    TEST_KEY,
    { enforceAll: false, enforced: [], models: { m: registered, secret: registered, 'not-serving': { serving: null, revokedVersions: [], revokedDigests: [] } } },
    ['m', 'not-serving'].map((m) => `permit(principal, action, resource in Model::"${m}");`).join('\n') + '\nforbid(principal, action, resource in Model::"secret");',
  );
  // A spy in front of the compiled policy set: records every request the gateway authorizes.
  const snap = holder.current()!;
  const inner = snap.authorizer;
  const spy: Authorizer = {
    version: inner.version,
    authorize: (r) => {
      calls.push(r);
      return inner.authorize(r);
    },
  };
  holder.update({ ...snap, version: snap.version + 1, authorizer: spy });
  gw = await startTestGateway({
    // No upstream is contacted: lookups are answered by the gateway.
    upstreams: [upstreamConfig.parse({ name: 'u', url: 'http://127.0.0.1:9', models: ['m', 'secret', 'not-serving'], retries: 0 })],
    snapshots: holder,
  });
});

after(async () => {
  await gw.close(0);
});

async function lookup(id: string): Promise<{ status: number; headers: Record<string, string>; body: string; calls: AuthzRequest[] }> {
  calls.length = 0;
  const r = await request(`${gw.url}/v1/models/${encodeURIComponent(id)}`, { headers: { authorization: `Bearer ${TEST_KEY}` } });
  const body = await r.body.text();
  return { status: r.statusCode, headers: r.headers as Record<string, string>, body, calls: [...calls] };
}

/** The request with the asked-about id (and a version) blanked, and its time: what is left is its shape. */
function shape(r: AuthzRequest, id: string): unknown {
  // The lookups run one after the other: context.time (whole seconds) may tick between them.
  const s = JSON.parse(JSON.stringify(r).replaceAll(id, '<id>').replace(/<id>@[^"]+/, '<id>@<v>')) as { context: { time?: unknown } };
  assert.equal(typeof s.context.time, 'number');
  s.context.time = '<time>';
  return s;
}

test('an unknown id runs admission and the policy like a forbidden or inadmissible one, and gets the same 404', async () => {
  const forbidden = await lookup('secret');
  const inadmissible = await lookup('not-serving');
  const unknown = await lookup('nope');
  for (const [id, a] of [['secret', forbidden], ['not-serving', inadmissible], ['nope', unknown]] as const) {
    assert.equal(a.status, 404, id);
    // One policy evaluation each, of the model asked about.
    assert.equal(a.calls.length, 1, `${id}: authorizer calls`);
    assert.ok(JSON.stringify(a.calls[0]!.resource).includes(id), id);
  }
  // The unknown id is evaluated as a model version under its model, like a registered model
  // (the forbidden one here): the same request but for the id.
  assert.deepEqual(unknown.calls[0]!.resourceParents, [{ type: 'Model', id: 'nope' }]);
  assert.equal(unknown.calls[0]!.resource.type, 'ModelVersion');
  assert.deepEqual(shape(unknown.calls[0]!, 'nope'), shape(forbidden.calls[0]!, 'secret'));
  // Bodies identical apart from the request id; headers too, apart from it (and the date), and
  // the overhead is given in whole milliseconds only.
  const strip = (a: { headers: Record<string, string>; body: string }): unknown => {
    const body = JSON.parse(a.body) as { error: Record<string, unknown> };
    assert.equal(body.error.requestId, a.headers['x-warden-request-id']);
    delete body.error.requestId;
    const { 'x-warden-request-id': rid, 'x-warden-overhead-ms': overhead, date: _date, ...rest } = a.headers;
    assert.ok(rid);
    assert.match(overhead ?? '', /^[1-9][0-9]*$/);
    return { body, headers: rest };
  };
  assert.deepEqual(strip(unknown), strip(forbidden));
  assert.deepEqual(strip(inadmissible), strip(forbidden));
  assert.equal(JSON.parse(unknown.body).error.code, 'WARDEN_GATEWAY_ROUTE_NOT_FOUND');
});

test('a model the caller may invoke is still answered, with its overhead in whole milliseconds; other routes keep microseconds', async () => {
  const ok = await lookup('m');
  assert.equal(ok.status, 200);
  assert.deepEqual(JSON.parse(ok.body), { id: 'm', object: 'model', created: 0, owned_by: 'warden' });
  assert.equal(ok.calls.length, 1);
  assert.deepEqual(ok.calls[0]!.resource, { type: 'ModelVersion', id: 'm@1' });
  assert.match(ok.headers['x-warden-overhead-ms'] ?? '', /^[1-9][0-9]*$/);
  const list = await request(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${TEST_KEY}` } });
  assert.deepEqual(((await list.body.json()) as { data: { id: string }[] }).data.map((d) => d.id), ['m']);
  assert.match(String(list.headers['x-warden-overhead-ms']), /^\d+\.\d{3}$/);
});

test('chat and OIP metadata: an unknown model and a forbidden one are denied by the same policy evaluation, with the same 403', async () => {
  const call = async (model: string, chat: boolean): Promise<{ status: number; headers: Record<string, string>; body: string; calls: AuthzRequest[] }> => {
    calls.length = 0;
    const r = chat
      ? await request(`${gw.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
        })
      : await request(`${gw.url}/v2/models/${model}`, { headers: { authorization: `Bearer ${TEST_KEY}` } });
    return { status: r.statusCode, headers: r.headers as Record<string, string>, body: await r.body.text(), calls: [...calls] };
  };
  // "secret" is forbidden, "nope" is not permitted (default deny): both are denied at authorization,
  // before admission or routing could tell them apart.
  for (const chat of [true, false]) {
    const forbidden = await call('secret', chat);
    const unknown = await call('nope', chat);
    const strip = (a: typeof forbidden, model: string): unknown => {
      assert.equal(a.status, 403, model);
      assert.equal(a.calls.length, 1, `${model}: authorizer calls`);
      assert.match(a.headers['x-warden-overhead-ms'] ?? '', /^[1-9][0-9]*$/, model);
      const body = JSON.parse(a.body.replaceAll(model, '<model>')) as { error: Record<string, unknown> };
      assert.equal(body.error.code, 'WARDEN_AUTHZ_DENIED');
      delete body.error.requestId;
      return body;
    };
    assert.deepEqual(strip(unknown, 'nope'), strip(forbidden, 'secret'), chat ? 'chat' : 'OIP metadata');
  }
});
