import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { Registry } from 'prom-client';
import { request } from 'undici';
import OpenAI from 'openai';
import type { AuditRecord } from '../../src/audit/index.js';
import { createDetectors, createGatewayGuards } from '../../src/detect/index.js';
import { configSchema, upstreamConfig } from '../../src/config/index.js';
import { startTestGateway, TEST_KEY } from '../helpers/inProcessGateway.js';

// Streamed answers through the gateway's output guards, from a model server that streams a fixed
// SSE body per model: every line a client can read is guarded (not only `data:`), well-formed
// streams stay readable by the official SDK, and with nothing to redact a stream passes untouched.

const AWS_KEY = 'AKIAIOSFODNN7EXAMPLE';
const SECRETS = `${AWS_KEY} alice@example.com 4111 1111 1111 1111`;
const LEAKS = [AWS_KEY, 'alice@example.com', '4111 1111 1111 1111', '4111111111111111'];
const META = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 7, model: 'm' };

type Lp = { content: { token: string; logprob: number }[] };
const lp = (token: string): Lp => ({ content: [{ token, logprob: -0.25 }] });
const chunk = (index: number, content: string | null, o: { finish?: string; logprobs?: Lp | null } = {}) =>
  `data: ${JSON.stringify({ ...META, choices: [{ index, delta: content === null ? {} : { content }, ...(o.logprobs === undefined ? {} : { logprobs: o.logprobs }), finish_reason: o.finish ?? null }] })}\n\n`;

/** A stream of `text` word by word, each chunk with the logprobs of its token. */
function tokens(index: number, text: string): string {
  return text
    .split(/(?= )/)
    .map((t) => chunk(index, t, { logprobs: lp(t) }))
    .join('');
}

async function withStreams(detect: Record<string, unknown>, bodies: Record<string, string>, body: (gw: { url: string; records: AuditRecord[]; post: (model: string) => Promise<{ status: number; text: string }> }) => Promise<void>): Promise<void> {
  const upstream = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => res.writeHead(200, { 'content-type': 'text/event-stream' }).end(bodies[(JSON.parse(raw) as { model: string }).model]));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const detectors = createDetectors(configSchema.parse({ detect }).detect, { emit: () => undefined, registry: new Registry() });
  const records: AuditRecord[] = [];
  const gw = await startTestGateway({
    upstreams: [upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${(upstream.address() as { port: number }).port}`, models: Object.keys(bodies), retries: 0 })],
    guards: createGatewayGuards(detectors),
    audit: { append: async (r: AuditRecord) => void records.push(r), queueDepth: 0, flush: async () => undefined, close: async () => undefined },
  });
  const post = async (model: string) => {
    const r = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, stream: true, logprobs: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    return { status: r.statusCode, text: await r.body.text() };
  };
  try {
    await body({ url: gw.url, records, post });
  } finally {
    await gw.close(0);
    await detectors.close();
    await new Promise<void>((r) => upstream.close(() => r()));
  }
}

async function until<T>(what: string, get: () => T | undefined): Promise<T> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The data of each event of an SSE text (`[DONE]` as is). */
function dataOf(sse: string): unknown[] {
  return sse
    .split('\n\n')
    .map((e) => e.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n'))
    .filter((d) => d)
    .map((d) => (d === '[DONE]' ? d : JSON.parse(d)));
}

test('a secret in a streamed line that is not `data:` never reaches the client: fields are redacted, other text withholds the rest of the stream', async () => {
  const good = 'Here is the first part of the answer, long enough to pass the hold-back window of the redactor. ';
  const bodies = {
    'plain-text': `Here is the key: ${SECRETS}\n`,
    'json-no-data-prefix': `{"choices":[{"index":0,"delta":{"content":"${SECRETS}"}}]}\n\n`,
    html: '<html>oops, not SSE</html>',
    'after-text': chunk(0, good) + `leaked ${SECRETS}\n\n` + chunk(0, 'never sent', { finish: 'stop' }),
    fields: `id: ${SECRETS}\nevent: ${SECRETS}\n: proxy comment ${SECRETS}\nretry: 4111111111111111\n${chunk(0, 'ok', { finish: 'stop' })}: keep-alive\n\nretry: 3000\n\ndata: [DONE]\n\n`,
  };
  await withStreams({}, bodies, async ({ post, records }) => {
    for (const model of ['plain-text', 'json-no-data-prefix', 'html', 'after-text']) {
      const r = await post(model);
      assert.equal(r.status, 200, model);
      for (const leak of LEAKS) assert.ok(!r.text.includes(leak), `${model}: ${leak} leaked`);
      assert.ok(!r.text.includes('oops') && !r.text.includes('never sent'), `${model}: nothing after the line is passed`);
      const events = dataOf(r.text) as { error?: { code: string }; choices?: { delta: { content?: string } }[] }[];
      assert.equal(events.at(-1)!.error?.code, 'WARDEN_GATEWAY_UPSTREAM_UNINSPECTABLE', model);
      assert.match(r.text, /event: error\ndata: \{"error"/, model);
      const rec = await until('the audit record', () => records.find((x) => x.model === model));
      assert.equal(rec.code, 'WARDEN_GATEWAY_UPSTREAM_UNINSPECTABLE', model);
      if (model === 'after-text') assert.equal(events.map((e) => e.choices?.[0]?.delta.content ?? '').join(''), good, 'text released before the line still arrives');
    }
    const r = await post('fields');
    for (const leak of LEAKS) assert.ok(!r.text.includes(leak), `fields: ${leak} leaked`);
    assert.match(r.text, /\n\nid: \[REDACTED:aws_access_key\] \[REDACTED:email\] \[REDACTED:credit_card\]\nevent: \[REDACTED:aws_access_key\]/);
    assert.match(r.text, /\n:\n/, 'a comment passes as a bare colon');
    assert.match(r.text, /\n\n:\n\nretry: 3000\n\n/, 'a keep-alive comment and a numeric retry pass');
    assert.equal(dataOf(r.text).at(-1), '[DONE]');
  });
});

test('a normal stream through the guards stays readable by the official openai SDK: text, logprobs, comments, retry, and an `event: error` it raises', async () => {
  const answer = 'The weather today is mild with a light breeze from the west and clear skies expected all afternoon long.';
  const normal = `: ping\r\n\r\nretry: 3000\r\n\r\n${tokens(0, answer)}${chunk(0, null, { finish: 'stop', logprobs: null })}data: [DONE]\n\n`.replace(/\n/g, '\r\n');
  const failing = chunk(0, 'partial answer ') + `event: error\ndata: ${JSON.stringify({ error: { message: 'model crashed', type: 'server_error' } })}\n\n`;
  await withStreams({}, { normal, failing }, async ({ url }) => {
    const client = new OpenAI({ apiKey: TEST_KEY, baseURL: `${url}/v1`, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'normal', stream: true, logprobs: true, messages: [{ role: 'user', content: 'weather?' }] });
    let text = '';
    const logprobTokens: string[] = [];
    let finish: string | null = null;
    for await (const part of stream) {
      const c = part.choices[0]!;
      text += c.delta?.content ?? '';
      for (const t of c.logprobs?.content ?? []) logprobTokens.push(t.token);
      finish = c.finish_reason ?? finish;
    }
    assert.equal(text, answer);
    assert.equal(finish, 'stop');
    assert.equal(logprobTokens.join(''), answer, 'nothing was redacted: every logprob arrives, in order');

    const failed = await client.chat.completions.create({ model: 'failing', stream: true, messages: [{ role: 'user', content: 'x' }] });
    await assert.rejects(
      (async () => {
        for await (const part of failed) void part;
      })(),
      (e: unknown) => e instanceof OpenAI.APIError && /model crashed/.test(e.message),
    );
  });
});

test('streamed logprobs follow their text once it is released unchanged, and a choice with a redaction loses them', async () => {
  const clean = 'A clean answer that says nothing sensitive at all, spread over many small chunks of text to stream.';
  const leaky = 'Mail bob@example.org to get the report, he will send it over by tomorrow morning at the latest.';
  const a = tokens(0, clean).split(/(?<=\n\n)/);
  const b = tokens(1, leaky).split(/(?<=\n\n)/);
  let sse = '';
  for (let i = 0; i < Math.max(a.length, b.length); i++) sse += (a[i] ?? '') + (b[i] ?? '');
  sse += chunk(0, null, { finish: 'stop' }) + chunk(1, null, { finish: 'stop' }) + 'data: [DONE]\n\n';
  await withStreams({}, { m: sse }, async ({ post }) => {
    const r = await post('m');
    assert.doesNotMatch(r.text, /bob@example\.org/);
    const text = ['', ''];
    const spelled = ['', ''];
    for (const e of dataOf(r.text)) {
      if (e === '[DONE]') continue;
      for (const c of (e as { choices: { index: number; delta?: { content?: string }; logprobs?: Lp | null }[] }).choices) {
        text[c.index] += c.delta?.content ?? '';
        for (const t of c.logprobs?.content ?? []) spelled[c.index] += t.token;
        assert.ok(text[c.index]!.startsWith(spelled[c.index]!), 'logprobs never spell text the client has not got');
      }
    }
    assert.equal(text[0], clean);
    assert.equal(spelled[0], clean, 'the clean choice keeps every logprob');
    assert.equal(text[1], leaky.replace('bob@example.org', '[REDACTED:email]'));
    // Logprobs of text released unchanged before the redaction may have gone out (a stream cannot take them back); none after.
    assert.ok(leaky.slice(0, leaky.indexOf('bob@')).startsWith(spelled[1]!), `the redacted choice has none from the redaction on: ${spelled[1]}`);
  });
});

test('with nothing to redact in streams (detection off, or completion findings only logged) a stream passes byte for byte, logprobs included', async () => {
  const sse = `: ping\n\n${tokens(0, 'contact alice@example.com, card 4111 1111 1111 1111, key ' + AWS_KEY)}${chunk(0, null, { finish: 'stop' })}data: [DONE]\n\n`;
  for (const detect of [{ enabled: false }, { pii: { completionAction: 'log' }, secrets: { completionAction: 'log' } }]) {
    await withStreams(detect, { m: sse }, async ({ post }) => {
      const r = await post('m');
      assert.equal(r.status, 200);
      assert.equal(r.text, sse, JSON.stringify(detect));
    });
  }
});
