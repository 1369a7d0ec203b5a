// HTTP/1.1 pipelining: one connection's requests take turns, so a client cannot make the gateway
// run (read bodies, call model servers) for any number of requests at once over one connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AuditRecord } from '../../src/audit/index.js';
import { upstreamConfig } from '../../src/config/index.js';
import type { RunningGateway } from '../../src/gateway/index.js';
import { MAX_PIPELINED_REQUESTS } from '../../src/gateway/http1Turns.js';
import { startTestGateway, TEST_KEY } from '../helpers/inProcessGateway.js';

/** A model server that holds every embeddings call until `release` and counts how many it holds at once. */
async function heldUpstream(autoReleaseMs: number | null) {
  const held: Array<() => void> = [];
  const state = { calls: 0, open: 0, maxOpen: 0 };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      state.calls++;
      state.open++;
      state.maxOpen = Math.max(state.maxOpen, state.open);
      const n = (JSON.parse(body) as { input: string }).input;
      const answer = () => {
        state.open--;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data: [], model: `answer-to-${n}`, usage: { prompt_tokens: 1, total_tokens: 1 } }));
      };
      if (autoReleaseMs === null) held.push(answer);
      else setTimeout(answer, autoReleaseMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    state,
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    release: () => held.splice(0).forEach((a) => a()),
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

function embeddingsRequest(n: number): string {
  const body = JSON.stringify({ model: 'm', input: `req-${n}` });
  return `POST /v1/embeddings HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer ${TEST_KEY}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** One raw connection; everything the gateway sends is collected in `text`. */
async function rawConnection(port: number): Promise<{ socket: Socket; text: () => string; closed: () => boolean }> {
  const socket = connect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  let text = '';
  let closed = false;
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  socket.on('error', () => undefined);
  socket.once('close', () => (closed = true));
  return { socket, text: () => text, closed: () => closed };
}

async function until(what: string, ok: () => boolean, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function withGateway(upstreamUrl: string, records: AuditRecord[], body: (gw: RunningGateway) => Promise<void>): Promise<void> {
  const gw = await startTestGateway({
    upstreams: [upstreamConfig.parse({ name: 'm', url: upstreamUrl, models: ['m'], timeoutMs: 20_000 })],
    audit: { append: async (r: AuditRecord) => void records.push(r), queueDepth: 0, flush: async () => undefined, close: async () => undefined },
  });
  try {
    await body(gw);
  } finally {
    await gw.close(0);
  }
}

test('pipelined HTTP/1.1 requests run one at a time: the model server never sees two from one connection, all are answered in order and audited once', async () => {
  const upstream = await heldUpstream(40);
  const records: AuditRecord[] = [];
  const N = 6;
  try {
    await withGateway(upstream.url, records, async (gw) => {
      const c = await rawConnection(gw.port);
      let maxInFlight = 0;
      const watch = setInterval(() => (maxInFlight = Math.max(maxInFlight, gw.inFlight())), 5);
      try {
        c.socket.write(Array.from({ length: N }, (_, i) => embeddingsRequest(i)).join(''));
        await until(`${N} answers`, () => (c.text().match(/HTTP\/1\.1 200 /g)?.length ?? 0) === N);
      } finally {
        clearInterval(watch);
        c.socket.destroy();
      }
      assert.equal(upstream.state.calls, N);
      assert.equal(upstream.state.maxOpen, 1, 'one model call at a time from one connection');
      assert.ok(maxInFlight <= 1, `the gateway ran ${maxInFlight} of the connection's requests at once`);
      const order = [...c.text().matchAll(/answer-to-req-(\d+)/g)].map((m) => Number(m[1]));
      assert.deepEqual(order, Array.from({ length: N }, (_, i) => i), 'answers in request order');
      await until('audit records', () => records.length === N);
      assert.deepEqual(records.map((r) => r.status), Array<number>(N).fill(200));
    });
  } finally {
    upstream.close();
  }
});

test(`more than ${MAX_PIPELINED_REQUESTS} requests waiting on one connection: the first over gets 429 WARDEN_GATEWAY_PIPELINE_LIMITED after the answers before it, the rest of a flood is discarded unrun, then the connection closes`, async () => {
  const upstream = await heldUpstream(null);
  const records: AuditRecord[] = [];
  const N = MAX_PIPELINED_REQUESTS + 300; // one running, MAX waiting, one refused, a flood behind it
  try {
    await withGateway(upstream.url, records, async (gw) => {
      const c = await rawConnection(gw.port);
      try {
        // One write, so node:http parses as many as it can at once.
        c.socket.write(Array.from({ length: N }, (_, i) => embeddingsRequest(i)).join(''));
        await until('the refusal audited and the first call made', () => records.length === 1 && upstream.state.calls >= 1);
        assert.ok(records.every((r) => r.status === 429 && r.code === 'WARDEN_GATEWAY_PIPELINE_LIMITED'), JSON.stringify(records));
        assert.equal(upstream.state.calls, 1, 'the others wait');
        await until('only the first request in flight', () => gw.inFlight() === 1);
        assert.equal(c.text(), '', 'nothing is answered ahead of the first request');
        for (let i = 1; i <= MAX_PIPELINED_REQUESTS + 1; i++) {
          await until(`call ${i}`, () => upstream.state.calls === i);
          upstream.release();
        }
        await until('the connection closed by the gateway', () => c.closed());
      } finally {
        c.socket.destroy();
      }
      const statuses = [...c.text().matchAll(/HTTP\/1\.1 (\d+) /g)].map((m) => Number(m[1]));
      assert.deepEqual(statuses, [...Array<number>(MAX_PIPELINED_REQUESTS + 1).fill(200), 429], 'the earlier answers, then one refusal, then the connection closes');
      assert.match(c.text(), /"code":"WARDEN_GATEWAY_PIPELINE_LIMITED"/);
      assert.match(c.text(), /\r\nconnection: close\r\n/i);
      assert.equal(upstream.state.maxOpen, 1);
      await until('every answered request audited', () => records.length === MAX_PIPELINED_REQUESTS + 2);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(records.filter((r) => r.code === 'WARDEN_GATEWAY_PIPELINE_LIMITED').length, 1, 'the flood behind the refusal runs no pipeline and writes no record');
    });
  } finally {
    upstream.close();
  }
});

test('a client that leaves with pipelined requests waiting: each is audited once, the waiting ones reach no model server, nothing stays in flight', async () => {
  const upstream = await heldUpstream(null);
  const records: AuditRecord[] = [];
  try {
    await withGateway(upstream.url, records, async (gw) => {
      const c = await rawConnection(gw.port);
      c.socket.write(embeddingsRequest(0) + embeddingsRequest(1) + embeddingsRequest(2));
      await until('the first call', () => upstream.state.calls >= 1);
      c.socket.destroy();
      await until('three audit records', () => records.length === 3);
      assert.equal(upstream.state.calls, 1, 'the waiting requests were not forwarded for a client that left');
      assert.ok(records.every((r) => r.status === 499), JSON.stringify(records.map((r) => [r.status, r.code])));
      await until('nothing in flight', () => gw.inFlight() === 0);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(records.length, 3, 'exactly one record per request');
      upstream.release();
    });
  } finally {
    upstream.close();
  }
});
