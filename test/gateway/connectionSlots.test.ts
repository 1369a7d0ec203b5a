// Connection slots before a client has said anything: a TLS handshake has a short deadline, and
// one source cannot hold more than gateway.maxConnectionsPerSource of maxConnections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect, type Socket } from 'node:net';
import { request } from 'node:https';
import { connectionSource } from '../../src/gateway/sourceConnectionLimit.js';
import { startTestGateway, withTlsGateway } from '../helpers/inProcessGateway.js';


/** A TCP connection that sends nothing (no ClientHello, no request); `closedAt` is set when the gateway drops it. */
async function silentConnection(port: number, localAddress = '127.0.0.1'): Promise<{ socket: Socket; openedAt: number; closedAt: () => number | null }> {
  const socket = tcpConnect({ port, host: '127.0.0.1', localAddress });
  let closedAt: number | null = null;
  socket.on('error', () => undefined);
  socket.once('close', () => (closedAt = Date.now()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return { socket, openedAt: Date.now(), closedAt: () => closedAt };
}

async function until(what: string, ok: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** GET /healthz over TLS from `localAddress`; resolves with the status. */
function healthz(port: number, ca: string, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/healthz', ca, servername: 'localhost', localAddress, agent: false }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('error', reject);
    req.end();
  });
}

test('a TCP connection that never sends its ClientHello is closed within the handshake deadline (headersTimeoutMs when shorter than 10 s)', async () => {
  await withTlsGateway(async (gateway) => {
    const c = await silentConnection(gateway.port);
    try {
      await until('the gateway to close the silent connection', () => c.closedAt() !== null, 5000);
      const after = c.closedAt()! - c.openedAt;
      assert.ok(after >= 300, `not before the deadline (closed after ${after} ms)`);
    } finally {
      c.socket.destroy();
    }
  }, { headersTimeoutMs: 400 });
});

test('a source over maxConnectionsPerSource is refused at accept while another source still connects; a freed slot is usable again', async () => {
  await withTlsGateway(async (gateway, ca) => {
    const held = [await silentConnection(gateway.port), await silentConnection(gateway.port)];
    try {
      const over = await silentConnection(gateway.port);
      await until('the third connection from 127.0.0.1 to be refused', () => over.closedAt() !== null, 2000);
      assert.ok(held.every((c) => c.closedAt() === null), 'the two within the cap stay open');
      // Another loopback address is another source (all of 127.0.0.0/8 is local on Linux).
      assert.equal(await healthz(gateway.port, ca, '127.0.0.2'), 200);
      held.shift()!.socket.destroy();
      // The slot is freed when the gateway sees the close: poll with a deadline.
      let status = 0;
      const deadline = Date.now() + 3000;
      while (status !== 200 && Date.now() < deadline) {
        status = await healthz(gateway.port, ca, '127.0.0.1').catch(() => 0);
        if (status !== 200) await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(status, 200);
    } finally {
      for (const c of held) c.socket.destroy();
    }
  }, { maxConnectionsPerSource: 2, headersTimeoutMs: 60_000 });
});

test('the plain (--insecure-dev) listener caps connections per source too', async () => {
  const gateway = await startTestGateway({ maxConnectionsPerSource: 1 });
  try {
    const held = await silentConnection(gateway.port);
    const over = await silentConnection(gateway.port);
    await until('the second connection from 127.0.0.1 to be refused', () => over.closedAt() !== null, 2000);
    assert.equal(held.closedAt(), null);
    const other = await silentConnection(gateway.port, '127.0.0.3');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(other.closedAt(), null, 'another source is accepted');
    held.socket.destroy();
    other.socket.destroy();
  } finally {
    await gateway.close(0);
  }
});

test('maxConnectionsPerSource 0 means no per-source cap', async () => {
  await withTlsGateway(async (gateway) => {
    const conns = await Promise.all(Array.from({ length: 5 }, () => silentConnection(gateway.port)));
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(conns.every((c) => c.closedAt() === null));
    for (const c of conns) c.socket.destroy();
  }, { maxConnectionsPerSource: 0 });
});

test('a source is an IPv4 address (IPv4-mapped too) or an IPv6 /64', () => {
  assert.equal(connectionSource('10.1.2.3'), '10.1.2.3');
  assert.equal(connectionSource('::ffff:10.1.2.3'), '10.1.2.3');
  assert.equal(connectionSource('::FFFF:127.0.0.1'), '127.0.0.1');
  assert.equal(connectionSource('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(connectionSource('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
  assert.equal(connectionSource('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(connectionSource('2001:db8:0:0:1::2'), connectionSource('2001:db8::3'));
  assert.notEqual(connectionSource('2001:db8:0:1::1'), connectionSource('2001:db8::1'));
  assert.equal(connectionSource('::1'), '0:0:0:0::/64');
  assert.equal(connectionSource(undefined), 'unknown');
});
