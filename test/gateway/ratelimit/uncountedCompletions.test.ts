import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryRateLimiter, RateLimitPolicy, completionChars } from '../../../src/gateway/ratelimit/index.js';
import { upstreamConfig } from '../../../src/config/index.js';
import { startTestGateway } from '../../helpers/inProcessGateway.js';
import { chargeMeter, mockUpstream, post, settledCharge } from '../../helpers/tokenUpstream.js';

// Completions the gateway could not read as JSON or SSE, and model text outside `content`,
// were free: only the prompt estimate stayed charged.

const TEXT = 'z'.repeat(40_000); // ~10 000 completion tokens
const chunk = (delta: Record<string, unknown>) => `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: null }] })}\n\n`;

test('completionChars counts reasoning, refusals and legacy function-call arguments', () => {
  const message = { content: 'ab', reasoning_content: 'cde', reasoning: 'f', refusal: 'gh', function_call: { name: 'f', arguments: 'ijkl' } };
  assert.equal(completionChars({ choices: [{ message }] }), 12);
  assert.equal(completionChars({ choices: [{ delta: message }] }), 12);
});

for (const [name, contentType, body, stream] of [
  ['an SSE stream without content-type', null, chunk({ content: TEXT }) + 'data: [DONE]\n\n', true],
  ['an SSE stream labelled text/plain', 'text/plain; charset=utf-8', chunk({ content: TEXT }) + 'data: [DONE]\n\n', true],
  ['a JSON answer that does not parse', 'application/json', JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: TEXT } }] }).slice(0, -3), false],
  ['a stream of reasoning_content without usage', 'text/event-stream', chunk({ reasoning_content: TEXT }) + chunk({ content: 'ok' }) + 'data: [DONE]\n\n', true],
  ['a JSON refusal without usage', 'application/json', JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: null, refusal: TEXT } }] }), false],
] as const) {
  test(`${name}: the completion is charged`, async () => {
    const upstream = await mockUpstream((_b, _req, res) => {
      res.writeHead(200, contentType ? { 'content-type': contentType } : {}).end(body);
    });
    const limiter = new MemoryRateLimiter();
    const meter = chargeMeter(limiter);
    const policy = new RateLimitPolicy([{ match: { key: '*' }, tokensPerMinute: 600_000 }], { limiter });
    const gw = await startTestGateway({ upstreams: [upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${upstream.port}`, models: ['m'], requestStreamUsage: false })], rateLimit: policy });
    try {
      const r = await post(gw, '/v1/chat/completions', { model: 'm', stream, messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(r.status, 200);
      const charged = await settledCharge(meter.charged);
      assert.ok(charged >= 10_000 && charged < 11_000, `charged ${charged}`);
    } finally {
      await gw.close(0);
      await upstream.close();
    }
  });
}
