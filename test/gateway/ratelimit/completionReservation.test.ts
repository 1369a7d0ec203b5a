import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { MemoryRateLimiter, RateLimitPolicy, estimatePromptTokens, reserveCompletionTokens, COMPLETION_CEILING_TOKENS } from '../../../src/gateway/ratelimit/index.js';
import { loadConfig, upstreamConfig } from '../../../src/config/index.js';
import { startTestGateway } from '../../helpers/inProcessGateway.js';
import { chargeMeter, mockUpstream, post, settledCharge } from '../../helpers/tokenUpstream.js';

// Tokens/min reserve each call's completion at admission: charging the prompt alone let 100
// concurrent chats with max_tokens 4000 consume 40 bursts before the first correction landed.

const chatAnswer = (completion: number) =>
  JSON.stringify({ id: 'c', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'x' }, finish_reason: 'length' }], usage: { prompt_tokens: 8, completion_tokens: completion, total_tokens: 8 + completion } });

test('reserveCompletionTokens: the largest length field, else the default; × max(n, best_of); capped; nonsense reserves the most; the ceiling is the server-side one × choices', () => {
  const config = { defaultTokens: 1024, maxTokens: 32_768 };
  const most = COMPLETION_CEILING_TOKENS;
  assert.deepEqual(reserveCompletionTokens({ messages: [] }, config), { reserved: 1024, most });
  assert.deepEqual(reserveCompletionTokens({ max_tokens: 4000 }, config), { reserved: 4000, most });
  // The larger wins: a server may obey either (clientShapedUsage.test.ts).
  assert.deepEqual(reserveCompletionTokens({ max_tokens: 4000, max_completion_tokens: 300 }, config), { reserved: 4000, most });
  assert.deepEqual(reserveCompletionTokens({ max_tokens: 100, n: 3 }, config), { reserved: 300, most: 3 * most });
  assert.deepEqual(reserveCompletionTokens({ max_tokens: 100, n: 2, best_of: 5 }, config), { reserved: 500, most: 5 * most });
  assert.deepEqual(reserveCompletionTokens({ max_tokens: 20_000, n: 4 }, config), { reserved: 32_768, most: 4 * most });
  // A length that is not a count may mean "no limit" to some server (llama.cpp's -1): reserved as the most.
  assert.deepEqual(reserveCompletionTokens({ max_tokens: '4000', n: -2, best_of: Number.NaN }, config), { reserved: 32_768, most });
  assert.deepEqual(reserveCompletionTokens({ max_tokens: -5 }, config), { reserved: 32_768, most });
});

test('concurrent chats with max_tokens 4000 cannot take a 60k/min budget past its burst', async () => {
  const upstream = await mockUpstream((body, _req, res) => {
    setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(chatAnswer(Number(body.max_tokens))), 300);
  });
  const tpm = 60_000; // burst 10 000
  const policy = new RateLimitPolicy([{ match: { key: '*' }, requestsPerMinute: 600, tokensPerMinute: tpm }], { limiter: new MemoryRateLimiter() });
  const gw = await startTestGateway({ upstreams: [upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${upstream.port}`, models: ['m'] })], rateLimit: policy });
  try {
    const results = await Promise.all(Array.from({ length: 40 }, () => post(gw, '/v1/chat/completions', { model: 'm', max_tokens: 4000, messages: [{ role: 'user', content: 'hi' }] })));
    const ok = results.filter((r) => r.status === 200).length;
    assert.ok(ok >= 1, 'the burst admits some');
    assert.ok(ok * (8 + 4000) <= 2 * (tpm / 6), `${ok} admitted consumed ${ok * 4008} tokens against a ${tpm / 6} burst`);
    assert.ok(results.every((r) => r.status === 200 || r.status === 429));
  } finally {
    await gw.close(0);
    await upstream.close();
  }
});

test('the unused reservation is refunded by the usage correction; a call with no answer to count refunds its reservation exactly once', async () => {
  const upstream = await mockUpstream((body, _req, res) => {
    const mode = (body.messages as { content: string }[])[0]!.content;
    if (mode === 'fail') res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"overloaded"}');
    else res.writeHead(200, { 'content-type': 'application/json' }).end(chatAnswer(50));
  });
  const refused = createServer();
  await new Promise<void>((r) => refused.listen(0, '127.0.0.1', () => r()));
  const deadPort = (refused.address() as { port: number }).port;
  await new Promise<void>((r) => refused.close(() => r()));
  const limiter = new MemoryRateLimiter();
  const meter = chargeMeter(limiter);
  const policy = new RateLimitPolicy([{ match: { key: '*' }, tokensPerMinute: 6_000_000 }], { limiter });
  const gw = await startTestGateway({
    upstreams: [
      upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${upstream.port}`, models: ['m'] }),
      upstreamConfig.parse({ name: 'd', url: `http://127.0.0.1:${deadPort}`, models: ['dead'], retries: 0 }),
    ],
    rateLimit: policy,
  });
  const call = async (model: string, content: string, expected: number) => {
    const admittedBefore = meter.admitted();
    const correctionsBefore = meter.corrections().length;
    const chat = { model, max_tokens: 700, messages: [{ role: 'user', content }] };
    assert.equal((await post(gw, '/v1/chat/completions', chat)).status, expected);
    await settledCharge(meter.charged);
    return { admitted: meter.admitted() - admittedBefore, corrections: meter.corrections().slice(correctionsBefore), prompt: estimatePromptTokens(chat) };
  };
  try {
    const ok = await call('m', 'ok', 200);
    assert.equal(ok.admitted, ok.prompt + 700, 'prompt estimate + max_tokens charged at admission');
    assert.deepEqual(ok.corrections, [58 - ok.admitted], 'one correction to the reported total');

    const failed = await call('m', 'fail', 503);
    assert.deepEqual(failed.corrections, [-700], 'a non-2xx answer: the reservation is refunded, the prompt stays charged');

    const unreachable = await call('dead', 'x', 502);
    assert.deepEqual(unreachable.corrections, [-700], 'connection refused: refunded once');
  } finally {
    await gw.close(0);
    await upstream.close();
  }
});

test('embeddings reserve no completion', async () => {
  const upstream = await mockUpstream((_b, _req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data: [], usage: { prompt_tokens: 3, total_tokens: 3 } })));
  const limiter = new MemoryRateLimiter();
  const meter = chargeMeter(limiter);
  const policy = new RateLimitPolicy([{ match: { key: '*' }, tokensPerMinute: 600_000 }], { limiter });
  const gw = await startTestGateway({ upstreams: [upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${upstream.port}`, models: ['m'] })], rateLimit: policy });
  try {
    assert.equal((await post(gw, '/v1/embeddings', { model: 'm', input: 'abcdabcd' })).status, 200);
    assert.equal(await settledCharge(meter.charged), 3);
    assert.equal(meter.admitted(), 2);
  } finally {
    await gw.close(0);
    await upstream.close();
  }
});

test('config: completionReserveTokens and maxCompletionReserveTokens default, parse and are checked', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-reserve-cfg-'));
  const load = (rateLimit: Record<string, unknown>) => loadConfig({ dataDir: dir, cwd: dir, env: {}, overrides: { gateway: { rateLimit } } });
  try {
    const defaults = load({}).gateway.rateLimit;
    assert.equal(defaults.completionReserveTokens, 1024);
    assert.equal(defaults.maxCompletionReserveTokens, 32_768);
    assert.equal(load({ completionReserveTokens: 0 }).gateway.rateLimit.completionReserveTokens, 0);
    assert.throws(() => load({ completionReserveTokens: 1.5 }), { code: 'WARDEN_CONFIG_INVALID', message: /gateway\.rateLimit\.completionReserveTokens/ });
    assert.throws(() => load({ maxCompletionReserveTokens: -1 }), { code: 'WARDEN_CONFIG_INVALID', message: /gateway\.rateLimit\.maxCompletionReserveTokens/ });
    assert.throws(() => load({ completionReserveTokens: 5000, maxCompletionReserveTokens: 4096 }), { code: 'WARDEN_CONFIG_INVALID', message: /gateway\.rateLimit\.completionReserveTokens: must not exceed maxCompletionReserveTokens/ });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
