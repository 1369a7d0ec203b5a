// How the gateway reads an upstream answer (UpstreamAnswer): whole for the output guards, or passed
// on as it comes. Answers larger than what is held before the gateway chooses (64 KiB) pause the
// connection and resume it; an answer that trickles in must not be cut by the headers deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { Registry } from 'prom-client';
import { request } from 'undici';
import type { AuditRecord } from '../../src/audit/index.js';
import { createDetectors, createGatewayGuards } from '../../src/detect/index.js';
import { configSchema, upstreamConfig } from '../../src/config/index.js';
import { startTestGateway, TEST_KEY } from '../helpers/inProcessGateway.js';
import { startScriptedModelServer } from '../helpers/modelServer.js';

const HEADERS = { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' };

/** Writes `text` in `pieces` parts, `everyMs` apart, then ends the answer. */
function trickle(res: ServerResponse, text: Buffer, pieces: number, everyMs: number): void {
  const size = Math.ceil(text.length / pieces);
  let at = 0;
  const next = (): void => {
    res.write(text.subarray(at, at + size));
    at += size;
    if (at >= text.length) res.end();
    else setTimeout(next, everyMs);
  };
  next();
}

async function withGuardedGateway(
  answer: (path: string, res: ServerResponse, body: string) => void,
  config: Record<string, unknown>,
  body: (post: (path: string, payload: unknown) => Promise<{ status: number; bytes: Buffer }>, records: AuditRecord[]) => Promise<void>,
): Promise<void> {
  const upstream = await startScriptedModelServer((req, res, body) => answer(req.url ?? '', res, body));
  const detectors = createDetectors(configSchema.parse({}).detect, { emit: () => undefined, registry: new Registry() });
  const records: AuditRecord[] = [];
  const gw = await startTestGateway({
    upstreams: [upstreamConfig.parse({ name: 'm', url: upstream.url, models: ['m'], retries: 0, ...config })],
    guards: createGatewayGuards(detectors),
    audit: { append: async (r: AuditRecord) => void records.push(r), queueDepth: 0, flush: async () => undefined, close: async () => undefined },
  });
  const post = async (path: string, payload: unknown) => {
    const r = await request(`${gw.url}${path}`, { method: 'POST', headers: HEADERS, body: JSON.stringify(payload) });
    return { status: r.statusCode, bytes: Buffer.from(await r.body.arrayBuffer()) };
  };
  try {
    await body(post, records);
  } finally {
    await gw.close(0);
    await detectors.close();
    await upstream.stop();
  }
}

const bigText = 'lorem ipsum dolor sit amet '.repeat(120_000); // ~3 MiB
const bigChat = Buffer.from(JSON.stringify({ id: 'c', object: 'chat.completion', model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: bigText }, finish_reason: 'stop' }] }));
const bigEmbedding = Buffer.from(JSON.stringify({ object: 'list', model: 'm', data: [{ object: 'embedding', index: 0, embedding: Array.from({ length: 200_000 }, (_, i) => i / 7) }] }));
const bigStream = Buffer.from(`${Array.from({ length: 2000 }, (_, i) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: `${i} ${'word '.repeat(200)}` } }] })}\n\n`).join('')}data: [DONE]\n\n`);

/** The completion text of an event stream. */
function streamedText(bytes: Buffer): string {
  const events = bytes.toString('utf8').split('\n\n').filter((e) => e.startsWith('data: {'));
  return events.map((e) => (JSON.parse(e.slice(6)) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? '').join('');
}

test('answers of some MiB, read whole by the guards or passed on as they come, reach the client whole (JSON byte for byte)', { timeout: 20_000 }, async () => {
  await withGuardedGateway(
    (path, res, body) => {
      const streamed = (JSON.parse(body) as { stream?: boolean }).stream === true;
      res.writeHead(200, { 'content-type': streamed ? 'text/event-stream' : 'application/json' });
      trickle(res, path.endsWith('/embeddings') ? bigEmbedding : streamed ? bigStream : bigChat, 40, 2);
    },
    {},
    async (post) => {
      const chat = await post('/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(chat.status, 200);
      assert.ok(chat.bytes.equals(bigChat), 'the inspected chat answer, unchanged');
      const embedding = await post('/v1/embeddings', { model: 'm', input: 'hi' });
      assert.equal(embedding.status, 200);
      assert.ok(embedding.bytes.equals(bigEmbedding), 'the embeddings answer, passed on');
      const streamed = await post('/v1/chat/completions', { model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(streamed.status, 200);
      // The guards read the stream event by event (and may rewrite its framing): its text is what must arrive.
      assert.equal(streamedText(streamed.bytes), streamedText(bigStream), 'the event stream, passed on');
      assert.ok(streamed.bytes.toString('utf8').endsWith('data: [DONE]\n\n'));
    },
  );
});

test('an answer that trickles in for longer than timeoutMs, never silent that long, is served whole: only maxDurationMs bounds the whole call', { timeout: 20_000 }, async () => {
  const answer = Buffer.from(JSON.stringify({ id: 'c', object: 'chat.completion', model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'slowly but surely' }, finish_reason: 'stop' }] }));
  await withGuardedGateway(
    (_path, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      trickle(res, answer, 8, 100);
    },
    { timeoutMs: 300, maxDurationMs: 5000 },
    async (post, records) => {
      const started = Date.now();
      const r = await post('/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'hi' }] });
      assert.ok(Date.now() - started >= 600, 'the answer took longer than timeoutMs');
      assert.equal(r.status, 200);
      assert.ok(r.bytes.equals(answer));
      for (let i = 0; i < 50 && records.length === 0; i++) await new Promise((res) => setTimeout(res, 20));
      assert.equal(records[0]?.status, 200);
      assert.equal(records[0]?.code, undefined);
    },
  );
});

test('a successful JSON answer larger than the 32 MiB the guards read is withheld: 502 WARDEN_GATEWAY_UPSTREAM_UNINSPECTABLE', { timeout: 20_000 }, async () => {
  const piece = Buffer.alloc(1024 * 1024, 'a');
  await withGuardedGateway(
    (_path, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      let sent = 0;
      const more = (): void => {
        while (sent < 33) {
          sent++;
          if (!res.write(piece)) return void res.once('drain', more);
        }
        res.end('"}');
      };
      res.write('{"x":"');
      more();
    },
    {},
    async (post) => {
      const r = await post('/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(r.status, 502);
      const json = JSON.parse(r.bytes.toString('utf8')) as { error: { code: string; message: string } };
      assert.equal(json.error.code, 'WARDEN_GATEWAY_UPSTREAM_UNINSPECTABLE');
      assert.match(json.error.message, /larger than the 33554432 bytes/);
    },
  );
});
