import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { request } from 'undici';
import type { RunningGateway } from '../../src/gateway/index.js';
import { MemoryRateLimiter, RateLimitPolicy, estimatePromptTokens } from '../../src/gateway/ratelimit/index.js';
import { upstreamConfig } from '../../src/config/index.js';
import { startTestGateway, TEST_KEY } from '../helpers/inProcessGateway.js';

// Tokens per minute must hold for streamed completions too: OpenAI-style servers report `usage`
// on a stream only when asked, so the gateway asks (and hides the answer from a client that did
// not), and charges an estimate from the streamed text when no usage comes at all.

const WORDS = Array.from({ length: 10 }, (_, i) => `word${i} `.repeat(8)); // 10 deltas of 48 characters
const REPORTED_TOTAL = 1234;

/**
 * A model server that streams WORDS and honours (or, with `ignoreStreamOptions`, ignores)
 * include_usage; with `usageEveryChunk` every chunk carries the running totals (vLLM's
 * continuous_usage_stats), the last chunk the final ones.
 */
async function streamingServer(ignoreStreamOptions: boolean, usageEveryChunk = false) {
  const bodies: Record<string, unknown>[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const body = JSON.parse(raw) as { stream?: boolean; stream_options?: { include_usage?: boolean } };
      bodies.push(body);
      if (body.stream !== true) {
        // A server that reports no usage on plain answers either.
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'c', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: WORDS.join('') }, finish_reason: 'stop' }] }));
        return;
      }
      const withUsage = !ignoreStreamOptions && body.stream_options?.include_usage === true;
      const meta = { id: 'chatcmpl-t', object: 'chat.completion.chunk', created: 1, model: 'm' };
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      WORDS.forEach((w, i) => {
        const usage = usageEveryChunk ? { prompt_tokens: 34, completion_tokens: 12 * (i + 1), total_tokens: 34 + 12 * (i + 1) } : null;
        res.write(`data: ${JSON.stringify({ ...meta, choices: [{ index: 0, delta: { content: w }, finish_reason: null }], ...(withUsage ? { usage } : {}) })}\n\n`);
      });
      res.write(`data: ${JSON.stringify({ ...meta, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], ...(withUsage ? { usage: null } : {}) })}\n\n`);
      if (withUsage) res.write(`data: ${JSON.stringify({ ...meta, choices: [], usage: { prompt_tokens: 34, completion_tokens: REPORTED_TOTAL - 34, total_tokens: REPORTED_TOTAL } })}\n\n`);
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { bodies, port: (server.address() as { port: number }).port, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

async function withGateway(o: { ignoreStreamOptions?: boolean; requestStreamUsage?: boolean; usageEveryChunk?: boolean }, body: (gw: RunningGateway, upstream: Awaited<ReturnType<typeof streamingServer>>, charged: () => number) => Promise<void>) {
  const upstream = await streamingServer(o.ignoreStreamOptions ?? false, o.usageEveryChunk);
  const limiter = new MemoryRateLimiter();
  const adjust = mock.method(limiter, 'adjust');
  const takeMany = mock.method(limiter, 'takeMany');
  const policy = new RateLimitPolicy([{ match: { key: '*' }, tokensPerMinute: 600_000 }], { limiter });
  const gw = await startTestGateway({
    upstreams: [upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${upstream.port}`, models: ['m'], requestStreamUsage: o.requestStreamUsage ?? true })],
    rateLimit: policy,
  });
  // Tokens charged in all: the estimate taken before the call plus every correction after it.
  const charged = () => takeMany.mock.calls.reduce((n, c) => n + (c.arguments[0] as readonly { cost: number }[]).reduce((m, t) => m + t.cost, 0), 0) + adjust.mock.calls.reduce((n, c) => n + (c.arguments[1] as number), 0);
  try {
    await body(gw, upstream, charged);
  } finally {
    await gw.close(0);
    await upstream.close();
  }
}

const chat = { model: 'm', stream: true, messages: [{ role: 'user', content: 'x'.repeat(120) }] };

async function streamChat(gw: RunningGateway, body: Record<string, unknown>): Promise<{ status: number; text: string }> {
  const r = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.statusCode, text: await r.body.text() };
}

/** Corrections run after the answer is sent: wait until the charge stops changing. */
async function settled(charged: () => number): Promise<number> {
  let last = -1;
  for (let i = 0; i < 50 && charged() !== last; i++) {
    last = charged();
    await new Promise((r) => setTimeout(r, 20));
  }
  return charged();
}

test('a token-limited stream asks the upstream for usage, charges it, and the client sees the stream it asked for', async () => {
  await withGateway({}, async (gw, upstream, charged) => {
    const r = await streamChat(gw, chat);
    assert.equal(r.status, 200);
    assert.deepEqual(upstream.bodies[0]!.stream_options, { include_usage: true }, 'the gateway asked for usage');
    assert.doesNotMatch(r.text, /"usage"/, 'usage the client did not ask for is not shown');
    assert.equal(r.text.match(/^data: /gm)!.length, WORDS.length + 2, 'every delta, the finishing chunk and [DONE]; no usage-only chunk');
    assert.equal(await settled(charged), REPORTED_TOTAL);
  });
});

test('a client that asked for usage itself gets it, unchanged', async () => {
  await withGateway({}, async (gw, upstream, charged) => {
    const r = await streamChat(gw, { ...chat, stream_options: { include_usage: true } });
    assert.equal(r.status, 200);
    assert.match(r.text, new RegExp(`"total_tokens":${REPORTED_TOTAL}`));
    assert.equal(upstream.bodies.length, 1);
    assert.equal(await settled(charged), REPORTED_TOTAL);
  });
});

test('usage on every chunk (running totals) is charged once, at its final value', async () => {
  await withGateway({ usageEveryChunk: true }, async (gw, _upstream, charged) => {
    const r = await streamChat(gw, { ...chat, stream_options: { include_usage: true, continuous_usage_stats: true } });
    assert.equal(r.status, 200);
    assert.equal(r.text.match(/"total_tokens"/g)!.length, WORDS.length + 1, 'the client asked for the running usage and gets it');
    assert.equal(await settled(charged), REPORTED_TOTAL);
  });
});

for (const [name, o] of [
  ['an upstream that ignores stream_options', { ignoreStreamOptions: true }],
  ['an upstream the gateway must not send stream_options to (requestStreamUsage: false)', { requestStreamUsage: false }],
] as const) {
  test(`${name}: the completion is charged from the streamed text, never free`, async () => {
    await withGateway(o, async (gw, upstream, charged) => {
      const r = await streamChat(gw, chat);
      assert.equal(r.status, 200);
      if ('requestStreamUsage' in o) assert.equal(upstream.bodies[0]!.stream_options, undefined, 'nothing added to the request');
      const streamedChars = WORDS.join('').length;
      assert.equal(await settled(charged), estimatePromptTokens(chat) + Math.ceil(streamedChars / 4));
    });
  });
}

test('an empty prompt is charged too (at least one token up front, then the completion)', async () => {
  await withGateway({}, async (gw, _upstream, charged) => {
    for (const prompt of ['', [], ['']]) {
      const before = charged();
      const r = await request(`${gw.url}/v1/completions`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt }) });
      assert.equal(r.statusCode, 200, await r.body.text());
      assert.equal((await settled(charged)) - before, 1 + Math.ceil(WORDS.join('').length / 4), `prompt ${JSON.stringify(prompt)}`);
    }
  });
});

test('a plain answer without usage is charged from its text too', async () => {
  await withGateway({}, async (gw, _upstream, charged) => {
    const body = { ...chat, stream: false };
    const r = await streamChat(gw, body);
    assert.equal(r.status, 200);
    assert.equal(await settled(charged), estimatePromptTokens(body) + Math.ceil(WORDS.join('').length / 4));
  });
});
