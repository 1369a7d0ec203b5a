import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { gzipSync } from 'node:zlib';
import { Registry } from 'prom-client';
import { request } from 'undici';
import { createDetectors, createGatewayGuards } from '../../src/detect/index.js';
import { configSchema, upstreamConfig } from '../../src/config/index.js';
import { startTestGateway, TEST_KEY } from '../helpers/inProcessGateway.js';

// Model servers echo inputs and leak their own secrets in error answers (stack traces, connection
// strings). On routes the output guards read, error answers are guarded like successful ones.

const AWS_KEY = 'AKIAIOSFODNN7EXAMPLQ';
type Answer = { status: number; type?: string; encoding?: string; body: Buffer | string };

async function withErrorUpstream(body: (setAnswer: (a: Answer) => void, chat: (path?: string) => Promise<{ status: number; type: string; text: string }>) => Promise<void>): Promise<void> {
  let answer: Answer = { status: 500, body: '' };
  const upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const headers: Record<string, string> = { 'content-type': answer.type ?? 'application/json' };
      if (answer.encoding) headers['content-encoding'] = answer.encoding;
      res.writeHead(answer.status, headers).end(answer.body);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const detectors = createDetectors(configSchema.parse({}).detect, { emit: () => undefined, registry: new Registry() });
  const gw = await startTestGateway({
    upstreams: [upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${(upstream.address() as { port: number }).port}`, models: ['m'], retries: 0 })],
    guards: createGatewayGuards(detectors),
  });
  const chat = async (path = '/v1/chat/completions') => {
    const payload = path === '/v1/embeddings' ? { model: 'm', input: 'hi' } : { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
    const r = await request(`${gw.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(payload) });
    return { status: r.statusCode, type: String(r.headers['content-type']), text: await r.body.text() };
  };
  try {
    await body((a) => (answer = a), chat);
  } finally {
    await gw.close(0);
    await detectors.close();
    await new Promise<void>((r) => upstream.close(() => r()));
  }
}

test('a JSON error answer keeps its status and structure with secrets and PII redacted; one without findings passes unchanged', async () => {
  await withErrorUpstream(async (setAnswer, chat) => {
    const leaky = { error: { message: `upstream auth failed with key ${AWS_KEY}`, type: 'server_error', details: ['contact bob@example.org', 42] } };
    setAnswer({ status: 500, body: JSON.stringify(leaky) });
    const r = await chat();
    assert.equal(r.status, 500);
    assert.doesNotMatch(r.text, new RegExp(AWS_KEY));
    assert.doesNotMatch(r.text, /bob@example\.org/);
    const parsed = JSON.parse(r.text) as { error: { message: string; type: string; details: unknown[] } };
    assert.match(parsed.error.message, /^upstream auth failed with key \[REDACTED:aws_access_key\]$/);
    assert.deepEqual(parsed.error.details, ['contact [REDACTED:email]', 42]);
    assert.equal(parsed.error.type, 'server_error');

    const clean = JSON.stringify({ error: { message: 'model is overloaded', code: 429 } });
    setAnswer({ status: 429, body: clean });
    const c = await chat();
    assert.equal(c.status, 429);
    assert.equal(c.text, clean, 'byte for byte');
  });
});

test('a secret in a key of a JSON error answer is redacted too', async () => {
  await withErrorUpstream(async (setAnswer, chat) => {
    setAnswer({ status: 500, body: JSON.stringify({ error: { [`key ${AWS_KEY}`]: 1 } }) });
    const r = await chat();
    assert.equal(r.status, 500);
    assert.doesNotMatch(r.text, new RegExp(AWS_KEY));
    assert.match(r.text, /REDACTED/);
  });
});

test('a text error page (stack trace) is redacted as text, status and content type kept', async () => {
  await withErrorUpstream(async (setAnswer, chat) => {
    setAnswer({ status: 502, type: 'text/html', body: `<pre>Traceback: boto3 used ${AWS_KEY} for ops@example.com</pre>` });
    const r = await chat();
    assert.equal(r.status, 502);
    assert.equal(r.type, 'text/html');
    assert.equal(r.text, '<pre>Traceback: boto3 used [REDACTED:aws_access_key] for [REDACTED:email]</pre>');
  });
});

test('an error answer the guards cannot read (compressed, binary, larger than 1 MiB) is withheld with 502 WARDEN_GATEWAY_UPSTREAM_UNINSPECTABLE', async () => {
  await withErrorUpstream(async (setAnswer, chat) => {
    const cases: [string, Answer][] = [
      ['gzip', { status: 500, encoding: 'gzip', body: gzipSync(`key ${AWS_KEY}`) }],
      ['binary', { status: 500, type: 'application/octet-stream', body: Buffer.from([0xff, 0xfe, 0x00, 0x41]) }],
      ['huge', { status: 400, type: 'text/plain', body: `${'x'.repeat(1024 * 1024)} ${AWS_KEY}` }],
      ['nested deeper than the guards follow', { status: 500, body: `${'{"e":'.repeat(70)}"key ${AWS_KEY}"${'}'.repeat(70)}` }],
    ];
    for (const [name, a] of cases) {
      setAnswer(a);
      const r = await chat();
      assert.equal(r.status, 502, name);
      assert.equal((JSON.parse(r.text) as { error: { code: string } }).error.code, 'WARDEN_GATEWAY_UPSTREAM_UNINSPECTABLE', name);
      assert.doesNotMatch(r.text, new RegExp(AWS_KEY), name);
    }
  });
});
