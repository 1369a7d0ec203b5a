// block-principal contains a principal whatever it authenticates with, through the real gateway
// of `warden up --demo`: the contain-extraction runbook blocks the principal (one the old action
// refused: an id with `\`, or one with no API keys at all) and revokes its keys; the block and the
// revocation also cut off answers already streaming (the reviewer's stream.py: a revoked key's
// stream went on for 15 s); an operator lifts a block (audited).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { startEmbeddedWarden, type EmbeddedWarden } from '../helpers/embeddedWarden.js';

/** A key acting as `principal` that may invoke every model. */
async function keyFor(s: EmbeddedWarden, name: string, principal: string): Promise<string> {
  const r = await s.admin('POST', '/keys', { name, principal, scopes: ['model:*'] });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  return r.json.key as string;
}

/**
 * Streams a chat answer of 20,000 words (3.6 MB of events) and, once the first bytes arrived,
 * stops reading while `during` runs: backpressure holds the answer in flight meanwhile. Then reads
 * on: how many bytes came after, whether the answer completed, and how long it went on.
 */
async function streamWhile(s: EmbeddedWarden, key: string, during: () => Promise<void>): Promise<{ status: number; bytesAfter: number; completed: boolean; msAfter: number }> {
  const agent = new Agent({ connect: { ca: readFileSync(s.warden.ready.caBundle, 'utf8'), servername: 'localhost' } });
  try {
    const content = Array.from({ length: 20_000 }, (_, i) => `w${i}`).join(' ');
    const r = await request(`${s.warden.ready.gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      dispatcher: agent,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'echo', stream: true, messages: [{ role: 'user', content }] }),
    });
    let doneAt = 0;
    let bytesAfter = 0;
    let tail = '';
    try {
      for await (const chunk of r.body as AsyncIterable<Buffer>) {
        if (doneAt) bytesAfter += chunk.length;
        else {
          await during();
          doneAt = Date.now();
        }
        tail = (tail + chunk.toString()).slice(-64);
      }
    } catch {
      // Cut off: the connection closed mid-answer.
    }
    assert.ok(doneAt, 'the answer began');
    return { status: r.statusCode, bytesAfter, completed: tail.includes('[DONE]'), msAfter: Date.now() - doneAt };
  } finally {
    await agent.destroy();
  }
}

/** Waits (the audit append follows the answer) for the gateway's record of `principal` with `code` and `status`. */
async function gatewayRecord(s: EmbeddedWarden, principal: string, code: string, status: number): Promise<boolean> {
  for (const deadline = Date.now() + 5000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
    const r = await s.admin('GET', `/audit/records?kind=decision&principal=${encodeURIComponent(principal)}`);
    if ((r.json.entries as { record: { code?: string; status: number } }[]).some((e) => e.record.code === code && e.record.status === status)) return true;
  }
  return false;
}

test('contain-extraction blocks a principal the old action refused, cuts its open stream and revokes its key', async (t) => {
  const s = await startEmbeddedWarden(t, 'warden-block-principal-');
  const principal = 'User::"ext\\\\actor"'; // the id `ext\actor`, as `keys create --principal` takes it
  const key = await keyFor(s, 'extractor', principal);
  assert.equal((await s.invoke(key, 'echo')).status, 200);

  let run: { ok: boolean } | undefined;
  let incident: { state: string } | undefined;
  const streamed = await streamWhile(s, key, async () => {
    const r = await s.admin('POST', '/runbooks/run', { runbook: 'contain-extraction', target: { principal } });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    ({ run, incident } = r.json as { run: { ok: boolean }; incident: { state: string } });
  });
  assert.equal(run?.ok, true, 'the runbook ran');
  assert.equal(incident?.state, 'contained');
  assert.equal(streamed.status, 200);
  assert.equal(streamed.completed, false, 'the answer under way is cut off');
  assert.ok(streamed.bytesAfter < 1_000_000, `only what was buffered arrives after containment, got ${streamed.bytesAfter} bytes of 3.6 MB`);
  assert.ok(streamed.msAfter < 2000, `the stream ended ${streamed.msAfter} ms after containment`);

  assert.deepEqual(await s.invoke(key, 'echo'), { status: 401, code: 'WARDEN_AUTHN_KEY_REVOKED' });
  const blocks = (await s.admin('GET', '/principals/blocked')).json.blocks as { principal: string; expiresAt: string | null }[];
  assert.deepEqual(blocks.map((b) => b.principal), ['User::"ext\\\\actor"']);
  const hoursBlocked = (Date.parse(blocks[0]!.expiresAt!) - Date.now()) / 3_600_000;
  assert.ok(hoursBlocked > 23.9 && hoursBlocked <= 24, `blocked for 24 h (${hoursBlocked} h left)`);
  // The cut-off answer's record says why.
  assert.ok(await gatewayRecord(s, principal, 'WARDEN_AUTHN_KEY_REVOKED', 200), 'the cut-off stream is audited with the revocation');
});

test('a principal without API keys is blocked and the incident contained; a block refuses every key of the principal until lifted', async (t) => {
  const s = await startEmbeddedWarden(t, 'warden-block-principal-nokeys-');
  // An OIDC user or a workload has no Warden key: the old action failed and left the incident open.
  const r = await s.admin('POST', '/runbooks/run', { runbook: 'contain-extraction', target: { principal: 'User::"oidc-only"' } });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal((r.json.run as { ok: boolean }).ok, true);
  assert.equal((r.json.incident as { state: string }).state, 'contained');

  // An operator block (admin API) refuses the principal at the gateway whatever key it uses, and
  // ends what it has open, without revoking its keys; unblocking gives it back.
  const key = await keyFor(s, 'mallory-key', 'User::"mallory"');
  const streamed = await streamWhile(s, key, async () => {
    const b = await s.admin('POST', '/principals/block', { principal: 'User::"mallory"', ttlSeconds: 3600, reason: 'test' });
    assert.equal(b.status, 200, JSON.stringify(b.json));
  });
  assert.equal(streamed.completed, false, 'the answer under way is cut off');
  assert.ok(streamed.bytesAfter < 1_000_000, `only what was buffered arrives after the block, got ${streamed.bytesAfter} bytes of 3.6 MB`);
  assert.ok(streamed.msAfter < 2000, `the stream ended ${streamed.msAfter} ms after the block`);
  assert.deepEqual(await s.invoke(key, 'echo'), { status: 403, code: 'WARDEN_AUTHZ_PRINCIPAL_BLOCKED' });
  assert.ok(await gatewayRecord(s, 'User::"mallory"', 'WARDEN_AUTHZ_PRINCIPAL_BLOCKED', 200), 'the cut-off stream is audited with the block');
  assert.ok(await gatewayRecord(s, 'User::"mallory"', 'WARDEN_AUTHZ_PRINCIPAL_BLOCKED', 403));

  const u = await s.admin('POST', '/principals/unblock', { principal: 'User::"mallory"' });
  assert.equal(u.status, 200, JSON.stringify(u.json));
  assert.equal((await s.invoke(key, 'echo')).status, 200, 'the key works again');
  assert.equal((await s.admin('POST', '/principals/unblock', { principal: 'User::"mallory"' })).status, 404);
  const admin = (await s.admin('GET', '/audit/records?kind=admin')).json.entries as { record: { action: string; resource?: string; details?: { outcome?: string } } }[];
  const changes = admin.filter((e) => e.record.resource === 'User::"mallory"' && e.record.details?.outcome === 'committed').map((e) => e.record.action);
  assert.deepEqual(changes.sort(), ['principals.block', 'principals.unblock']);
  assert.equal((await s.admin('POST', '/principals/block', { principal: 'User::"a' })).status, 400, 'not an entity');
});

test('revoking an API key cuts off its answer under way (stream.py: it went on for 15 s after the revocation)', async (t) => {
  const s = await startEmbeddedWarden(t, 'warden-revoke-stream-');
  const { id, key } = await s.createKey('streamer', ['model:*']);
  const streamed = await streamWhile(s, key, async () => {
    const r = await s.admin('POST', `/keys/${id}/revoke`);
    assert.equal(r.status, 200, JSON.stringify(r.json));
  });
  assert.equal(streamed.completed, false, 'the answer under way is cut off');
  assert.ok(streamed.bytesAfter < 1_000_000, `only what was buffered arrives after the revocation, got ${streamed.bytesAfter} bytes of 3.6 MB`);
  assert.ok(streamed.msAfter < 2000, `the stream ended ${streamed.msAfter} ms after the revocation`);
  assert.ok(await gatewayRecord(s, 'ApiKey::"streamer"', 'WARDEN_AUTHN_KEY_REVOKED', 200), 'the cut-off stream is audited with the revocation');
});
