import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { mock } from 'node:test';
import { request } from 'undici';
import type { RunningGateway } from '../../src/gateway/index.js';
import type { MemoryRateLimiter } from '../../src/gateway/ratelimit/index.js';
import { TEST_KEY } from './inProcessGateway.js';

/** A model server on a loopback port whose answers `handler` writes; keeps every request body. */
export async function mockUpstream(handler: (body: Record<string, unknown>, req: IncomingMessage, res: ServerResponse) => void) {
  const bodies: Record<string, unknown>[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      bodies.push(body);
      handler(body, req, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    bodies,
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** POSTs `body` as TEST_KEY and reads the whole answer. */
export async function post(gw: RunningGateway, path: string, body: unknown) {
  const r = await request(`${gw.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.statusCode, headers: r.headers, text: await r.body.text() };
}

/**
 * Tokens a limiter was charged in all, per bucket take: admission costs (takeMany) plus every
 * correction (adjust) — a refund counts negative.
 */
export function chargeMeter(limiter: MemoryRateLimiter) {
  const adjust = mock.method(limiter, 'adjust');
  const takeMany = mock.method(limiter, 'takeMany');
  const admitted = () => takeMany.mock.calls.reduce((n, c) => n + (c.arguments[0] as readonly { cost: number }[]).reduce((m, t) => m + t.cost, 0), 0);
  const corrections = () => adjust.mock.calls.map((c) => c.arguments[1] as number);
  return { admitted, corrections, charged: () => admitted() + corrections().reduce((a, b) => a + b, 0) };
}

/** Corrections run after the answer is sent: waits until the charge stops changing. */
export async function settledCharge(charged: () => number): Promise<number> {
  let last = -1;
  for (let i = 0; i < 50; i++) {
    const now = charged();
    if (now === last) return now;
    last = now;
    await new Promise((r) => setTimeout(r, 20));
  }
  return last;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
