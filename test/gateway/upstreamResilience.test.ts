import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { request } from 'undici';
import type { RunningGateway } from '../../src/gateway/index.js';
import { CircuitBreaker, PASS, REFUSED } from '../../src/gateway/CircuitBreaker.js';
import { upstreamConfig } from '../../src/config/index.js';
import { startTestGateway, TEST_KEY } from '../helpers/inProcessGateway.js';
import { freePort } from '../helpers/net.js';

// Upstream resilience (issue 5): retries only when nothing was sent, circuit breaking with
// retry-after, active health checks. An in-process gateway in front of real local servers.




/** A model server whose answers and health the test controls; counts the requests it received. */
function modelServer(port: number) {
  const state = { received: 0, healthy: true, status: 200, resetAfterRead: false, digest: null as string | string[] | null };
  const server: Server = createServer((req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(state.healthy ? 200 : 503).end();
      return;
    }
    state.received++;
    req.resume();
    req.on('end', () => {
      if (state.resetAfterRead) {
        res.socket?.destroy();
        return;
      }
      res
        .writeHead(state.status, { 'content-type': 'application/json', ...(state.digest ? { 'x-warden-model-digest': state.digest } : {}) })
        .end(JSON.stringify({ data: [{ embedding: [0.1], index: 0, object: 'embedding' }], object: 'list', model: 'm' }));
    });
  });
  return {
    state,
    start: () => new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r())),
    stop: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

async function gatewayFor(port: number, extra: Record<string, unknown>): Promise<RunningGateway> {
  return startTestGateway({
    upstreams: [upstreamConfig.parse({ name: 'm', url: `http://127.0.0.1:${port}`, models: ['m'], timeoutMs: 5000, ...extra })],
  });
}

async function embed(gw: RunningGateway): Promise<{ status: number; code?: string; retryAfter?: string }> {
  const r = await request(`${gw.url}/v1/embeddings`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', input: 'hello' }) });
  const json = (await r.body.json()) as { error?: { code: string } };
  return { status: r.statusCode, code: json.error?.code, retryAfter: r.headers['retry-after'] as string | undefined };
}

test('circuit breaker: opens after the threshold, lets one trial through after openMs, closes on success', () => {
  let now = 1000;
  const b = new CircuitBreaker(2, 500, () => now);
  assert.equal(b.allow(), PASS);
  b.failure();
  assert.equal(b.state, 'closed');
  b.failure();
  assert.equal(b.state, 'open');
  assert.equal(b.allow(), REFUSED);
  assert.equal(b.retryAfterMs(), 500);
  now += 500;
  assert.equal(b.state, 'half-open');
  const trial = b.allow();
  assert.ok(trial > 0, 'one trial');
  assert.equal(b.allow(), REFUSED, 'only one trial at a time');
  b.failure(trial);
  assert.equal(b.state, 'open', 'a failed trial opens again');
  now += 500;
  assert.ok(b.allow() > 0);
  b.success();
  assert.equal(b.state, 'closed');
  b.setHealthy(false);
  assert.equal(b.allow(), REFUSED, 'a failing health check holds it open');
  b.setHealthy(true);
  assert.equal(b.allow(), PASS);
});

test('circuit breaker: failures one requester may have caused open it only with another requester\'s, or a failure of the model server\'s own', () => {
  const b = new CircuitBreaker(2, 500, () => 1000);
  for (let i = 0; i < 5; i++) b.failure(PASS, 'ApiKey::"a"');
  assert.equal(b.state, 'closed', 'one client\'s slow requests alone');
  b.failure(PASS, 'ApiKey::"b"');
  assert.equal(b.state, 'open', 'a second requester: the model server');
  b.success();
  b.failure(PASS, 'ApiKey::"a"');
  b.failure(PASS, 'ApiKey::"a"');
  assert.equal(b.state, 'closed', 'a success starts a new run');
  b.failure();
  assert.equal(b.state, 'open', 'a failure of its own (a refused connection) counts whoever sent it');
  const c = new CircuitBreaker(3, 500, () => 1000);
  c.failure(PASS, 'ApiKey::"a"');
  c.failure(PASS, 'ApiKey::"b"');
  assert.equal(c.state, 'closed', 'two requesters, still below the threshold');
  c.failure(PASS, 'ApiKey::"a"');
  assert.equal(c.state, 'open');
});

test('circuit breaker: only the trial\'s own outcome ends the trial; older requests cannot let more through', () => {
  let now = 1000;
  const b = new CircuitBreaker(2, 500, () => now);
  const older = [b.allow(), b.allow(), b.allow()];
  assert.deepEqual(older, [PASS, PASS, PASS]);
  b.failure();
  b.failure();
  now += 500;
  const trial = b.allow();
  assert.ok(trial > 0);
  for (const ticket of older) {
    b.release(ticket); // their clients left
    assert.equal(b.allow(), REFUSED, 'still one trial in flight');
  }
  b.failure(older[0]); // an older request that fails opens the circuit again...
  assert.equal(b.state, 'open');
  now += 500;
  assert.equal(b.allow(), REFUSED, '...and the trial is still in flight');
  b.release(trial); // its client left: the next request may try
  const next = b.allow();
  assert.ok(next > 0 && next !== trial);
  b.success();
  b.failure();
  b.failure();
  now += 500;
  const third = b.allow();
  assert.ok(third > 0);
  b.release(next); // a stale trial ticket from before the circuit closed
  assert.equal(b.allow(), REFUSED, 'a stale ticket does not end the current trial');
  b.failure(third);
  assert.equal(b.state, 'open');
});

test('half-open: requests sent before the circuit opened, whose clients then leave, do not let more requests through during the trial', { timeout: 20_000 }, async () => {
  let received = 0;
  // Answers 503 to 'fail' and never answers anything else (an overloaded model server).
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received++;
      if (body.includes('fail')) res.writeHead(503, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const gw = await gatewayFor((server.address() as { port: number }).port, { retries: 0, timeoutMs: 30_000, circuitBreaker: { failureThreshold: 2, openMs: 300 } });
  const send = async (input: string, signal?: AbortSignal) => {
    const r = await request(`${gw.url}/v1/embeddings`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', input }), signal });
    return ((await r.body.json()) as { error?: { code: string } }).error?.code ?? String(r.statusCode);
  };
  const until = async (done: () => boolean) => {
    for (const deadline = Date.now() + 5000; !done(); await new Promise((r) => setTimeout(r, 20))) if (Date.now() > deadline) throw new Error('timed out');
  };
  try {
    const older = Array.from({ length: 3 }, () => new AbortController());
    const olderDone = older.map((c) => send('hang', c.signal).catch(() => 'aborted'));
    await until(() => received === 3);
    assert.deepEqual([await send('fail'), await send('fail')], ['503', '503']);
    assert.equal(await send('hang'), 'WARDEN_GATEWAY_UPSTREAM_CIRCUIT_OPEN');
    await new Promise((r) => setTimeout(r, 350)); // half-open
    void send('hang').catch(() => undefined); // the trial, which hangs
    await until(() => received === 6);
    for (const c of older) {
      const inFlight = gw.inFlight();
      c.abort();
      await until(() => gw.inFlight() === inFlight - 1); // the gateway saw it leave
      // Refused at once, or forwarded to the model server (which never answers it).
      const answer = await send('hang', AbortSignal.timeout(3000)).catch(() => 'forwarded');
      assert.equal(answer, 'WARDEN_GATEWAY_UPSTREAM_CIRCUIT_OPEN', 'one trial at a time, whatever older requests do');
    }
    await Promise.all(olderDone);
    assert.equal(received, 6, 'nothing more reached the model server during the trial');
  } finally {
    await gw.close(0);
    server.closeAllConnections();
    server.close();
  }
});

test('a model server that is not listening yet is retried (nothing was sent); a connection reset after the request was sent is not', async () => {
  const port = await freePort();
  const server = modelServer(port);
  const gw = await gatewayFor(port, { retries: 3 });
  try {
    // Attempts at about 0, 100, 300 and 700 ms; the server comes up after 150 ms.
    const answer = embed(gw);
    setTimeout(() => void server.start(), 150);
    const r = await answer;
    assert.equal(r.status, 200, JSON.stringify(r));
    assert.equal(server.state.received, 1);

    server.state.resetAfterRead = true;
    const reset = await embed(gw);
    assert.equal(reset.status, 502);
    assert.equal(reset.code, 'WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE');
    assert.equal(server.state.received, 2, 'the POST that reached the server was not sent again');
  } finally {
    await gw.close(0);
    await server.stop();
  }
});

test('after repeated failures the circuit opens: fail fast with 503 and retry-after, then a trial request closes it', async () => {
  const port = await freePort();
  const server = modelServer(port);
  await server.start();
  const gw = await gatewayFor(port, { retries: 0, circuitBreaker: { failureThreshold: 2, openMs: 400 } });
  try {
    server.state.status = 503;
    assert.equal((await embed(gw)).status, 503);
    assert.equal((await embed(gw)).status, 503);
    const received = server.state.received;
    const open = await embed(gw);
    assert.equal(open.status, 503);
    assert.equal(open.code, 'WARDEN_GATEWAY_UPSTREAM_CIRCUIT_OPEN');
    assert.equal(open.retryAfter, '1');
    assert.equal(server.state.received, received, 'nothing was sent while the circuit was open');
    const health = async (path: string) => {
      // No credential: load-balancer probes carry none.
      const r = await request(`${gw.url}${path}`);
      return { status: r.statusCode, json: await r.body.json() };
    };
    assert.deepEqual(await health('/v2/health/ready'), { status: 503, json: { live: true, ready: false } }, 'not ready while its only upstream fails fast');
    assert.deepEqual(await health('/v2/health/live'), { status: 200, json: { live: true, ready: false } }, 'still live');
    server.state.status = 200;
    await new Promise((r) => setTimeout(r, 450));
    assert.equal((await embed(gw)).status, 200, 'the trial request goes through and closes the circuit');
    assert.equal((await embed(gw)).status, 200);
    assert.equal((await health('/v2/health/ready')).status, 200);
  } finally {
    await gw.close(0);
    await server.stop();
  }
});

test('an active health check takes a failing model server out of rotation and brings it back', async () => {
  const port = await freePort();
  const server = modelServer(port);
  await server.start();
  const gw = await gatewayFor(port, { healthCheck: { path: '/healthz', intervalMs: 100, timeoutMs: 500 } });
  const until = async (want: number) => {
    let r = await embed(gw);
    for (let i = 0; i < 100 && r.status !== want; i++) {
      await new Promise((res) => setTimeout(res, 50));
      r = await embed(gw);
    }
    return r;
  };
  try {
    assert.equal((await until(200)).status, 200);
    server.state.healthy = false;
    const out = await until(503);
    assert.equal(out.code, 'WARDEN_GATEWAY_UPSTREAM_CIRCUIT_OPEN', 'requests fail fast while the health check fails');
    server.state.healthy = true;
    assert.equal((await until(200)).status, 200, 'back in rotation once healthy');
  } finally {
    await gw.close(0);
    await server.stop();
  }
});

test('requireModelDigest: an answer that does not report the served model digest is refused (403), one that does is served', async () => {
  const port = await freePort();
  const upstream = modelServer(port);
  await upstream.start();
  const trusting = await gatewayFor(port, {});
  const strict = await gatewayFor(port, { requireModelDigest: true });
  try {
    assert.deepEqual(await embed(trusting), { status: 200, code: undefined, retryAfter: undefined }, 'off by default: the registry pin is trusted');
    assert.deepEqual(await embed(strict), { status: 403, code: 'WARDEN_ADMISSION_DIGEST_MISSING', retryAfter: undefined });
    upstream.state.digest = `sha256:${'ab'.repeat(32)}`;
    assert.equal((await embed(strict)).status, 200);
    // The header twice (say a sidecar adds its own): ambiguous, so refused even where the digest is optional.
    upstream.state.digest = [`sha256:${'ab'.repeat(32)}`, `sha256:${'ab'.repeat(32)}`];
    assert.deepEqual(await embed(trusting), { status: 403, code: 'WARDEN_ADMISSION_DIGEST_MISMATCH', retryAfter: undefined });
  } finally {
    await strict.close();
    await trusting.close();
    await upstream.stop();
  }
});

test('retries stop once the circuit opens meanwhile: a failed health check ends the retry schedule', async () => {
  // A raw HTTP server, so closing its listener (new connections refused) keeps the health probe's
  // keep-alive connection open (http.Server.close would end idle connections too).
  let healthy = true;
  const server = createNetServer((socket) => {
    socket.on('data', () => socket.write(`HTTP/1.1 ${healthy ? '200 OK' : '503 Service Unavailable'}\r\ncontent-length: 0\r\n\r\n`));
    socket.on('error', () => undefined);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  // Five retries with backoff: 100 + 200 + 400 + 800 + 1600 ms = 3.1 s of attempts if nothing stops them.
  const gw = await gatewayFor(port, { retries: 5, timeoutMs: 10_000, healthCheck: { path: '/healthz', intervalMs: 100, timeoutMs: 500 } });
  try {
    await new Promise((r) => setTimeout(r, 250)); // the probe has connected and reported healthy
    server.close();
    healthy = false;
    const started = Date.now();
    const out = await embed(gw);
    const elapsed = Date.now() - started;
    assert.equal(out.code, 'WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE');
    assert.ok(elapsed < 1500, `the request gave up when the circuit opened, not after the whole schedule (${elapsed} ms)`);
    assert.equal((await embed(gw)).code, 'WARDEN_GATEWAY_UPSTREAM_CIRCUIT_OPEN', 'later requests fail fast');
  } finally {
    await gw.close(0);
    server.close();
  }
});
