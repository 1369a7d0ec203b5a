import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryRateLimiter, RateLimitPolicy, estimatePromptTokens, usageTotal } from '../../../src/gateway/ratelimit/index.js';
import { upstreamConfig } from '../../../src/config/index.js';
import { startTestGateway } from '../../helpers/inProcessGateway.js';
import { chargeMeter, mockUpstream, post, settledCharge } from '../../helpers/tokenUpstream.js';

// A `usage` that counts nothing recognisable is missing, not "0 tokens": read as 0 it refunded
// the prompt estimate and left the completion free.

test('usageTotal: total_tokens, else prompt + completion (or input + output); anything else is missing', () => {
  assert.equal(usageTotal({ prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 }), 12);
  assert.equal(usageTotal({ prompt_tokens: 5, completion_tokens: 7 }), 12);
  assert.equal(usageTotal({ input_tokens: 500, output_tokens: 1000 }), 1500);
  assert.equal(usageTotal({ input_tokens: 5, output_tokens: 7, total_tokens: 12 }), 12);
  assert.equal(usageTotal({ total_tokens: 0 }), 0);
  for (const missing of [null, undefined, 7, 'x', {}, { total_tokens: '1500' }, { total_tokens: -1 }, { total_tokens: Number.NaN }, { prompt_tokens: 5 }, { completion_tokens: '7', prompt_tokens: 5 }]) {
    assert.equal(usageTotal(missing), null, JSON.stringify(missing));
  }
});

const TEXT = 'y'.repeat(4000); // ~1000 completion tokens
const prompt = { model: 'm', max_tokens: 2000, messages: [{ role: 'user', content: 'p'.repeat(2000) }] };

for (const [name, usage, stream] of [
  ['usage: {}', {}, false],
  ['usage: {total_tokens: "1500"}', { total_tokens: '1500' }, false],
  ['a stream whose last usage is {}', {}, true],
] as const) {
  test(`${name}: the completion is estimated from its text, the prompt stays charged`, async () => {
    const upstream = await mockUpstream((_b, _req, res) => {
      if (!stream) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'c', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: TEXT }, finish_reason: 'stop' }], usage }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: TEXT }, finish_reason: 'stop' }] })}\n\n`);
      res.end(`data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', choices: [], usage })}\n\ndata: [DONE]\n\n`);
    });
    const limiter = new MemoryRateLimiter();
    const meter = chargeMeter(limiter);
    const policy = new RateLimitPolicy([{ match: { key: '*' }, tokensPerMinute: 600_000 }], { limiter });
    const gw = await startTestGateway({ upstreams: [upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${upstream.port}`, models: ['m'] })], rateLimit: policy });
    try {
      assert.equal((await post(gw, '/v1/chat/completions', { ...prompt, stream })).status, 200);
      assert.equal(await settledCharge(meter.charged), estimatePromptTokens(prompt) + 1000);
    } finally {
      await gw.close(0);
      await upstream.close();
    }
  });
}

test('usage in input_tokens/output_tokens is charged as reported', async () => {
  const upstream = await mockUpstream((_b, _req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'c', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: TEXT }, finish_reason: 'stop' }], usage: { input_tokens: 500, output_tokens: 1100 } }));
  });
  const limiter = new MemoryRateLimiter();
  const meter = chargeMeter(limiter);
  const policy = new RateLimitPolicy([{ match: { key: '*' }, tokensPerMinute: 600_000 }], { limiter });
  const gw = await startTestGateway({ upstreams: [upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${upstream.port}`, models: ['m'] })], rateLimit: policy });
  try {
    assert.equal((await post(gw, '/v1/chat/completions', prompt)).status, 200);
    assert.equal(await settledCharge(meter.charged), 1600);
  } finally {
    await gw.close(0);
    await upstream.close();
  }
});
