import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SnapshotHolder, SnapshotSubscriber, type SnapshotWire } from '../../src/gateway/index.js';
import { createLogger } from '../../src/observe/index.js';

// A remote gateway follows the control plane's snapshot stream (GET /api/v1/pep/stream, SSE).
// A fake control plane here controls versions, clocks and silence.

function wire(version: number, issuedAt = Date.now(), ttlMs = 300_000): SnapshotWire {
  return {
    version,
    issuedAt,
    expiresAt: issuedAt + ttlMs,
    apiKeys: [],
    policy: { version: 1, policies: 'permit(principal, action, resource);', schema: null, entities: [] },
    admission: { builtAt: new Date(issuedAt).toISOString(), enforceAll: false, enforced: [], models: {} },
  } as SnapshotWire;
}

/** A control plane whose stream answers each new connection with `onConnect(n)` (n from 1). */
async function fakeControlPlane(onConnect: (n: number, res: ServerResponse) => void) {
  let connections = 0;
  const open = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/api/v1/pep/status')) {
      req.resume();
      res.end('{}');
      return;
    }
    connections++;
    open.add(res);
    res.on('close', () => open.delete(res));
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    onConnect(connections, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => connections,
    dropAll: () => {
      for (const res of open) res.destroy();
    },
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

/** As the control plane sends it: with its clock at send time (`sentAt`). */
const send = (res: ServerResponse, w: SnapshotWire, sentAt = Date.now()) => res.write(`event: snapshot\ndata: ${JSON.stringify({ ...w, sentAt })}\n\n`);

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function subscriber(url: string, holder: SnapshotHolder, idleTimeoutMs?: number): SnapshotSubscriber {
  return new SnapshotSubscriber({ url, token: 'wdp_test', name: 'edge-1', holder, logger: createLogger({ level: 'silent' }), idleTimeoutMs });
}

test('a restarted control plane numbers its snapshots from 1 again: the new stream is installed, not ignored', async () => {
  const cp = await fakeControlPlane((n, res) => send(res, n === 1 ? wire(7) : wire(1)));
  const holder = new SnapshotHolder();
  const sub = subscriber(cp.url, holder);
  sub.start();
  try {
    await until(() => holder.current()?.version === 7, 'version 7');
    cp.dropAll(); // the control plane restarts
    await until(() => holder.current()?.version === 1, 'version 1 of the restarted control plane');
  } finally {
    await sub.close();
    await cp.close();
  }
});

test('within one stream versions only go up; the same snapshot sent again on reconnect does not extend its life', async () => {
  const first = wire(5, Date.now() - 200_000);
  const cp = await fakeControlPlane((n, res) => {
    send(res, first);
    if (n === 1) send(res, wire(4));
  });
  const holder = new SnapshotHolder();
  const sub = subscriber(cp.url, holder);
  sub.start();
  try {
    await until(() => holder.current()?.version === 5, 'version 5');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(holder.current()!.version, 5, 'an older version on the same stream is ignored');
    const expiry = holder.current()!.expiresAt;
    const left = expiry - Date.now();
    assert.ok(left > 90_000 && left <= 100_000, `what was left of its life when sent (100 s), not a fresh 300 s: ${left} ms`);
    cp.dropAll();
    await until(() => cp.connections() >= 2, 'a reconnect');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(holder.current()!.expiresAt, expiry, 'a control plane that cannot build new snapshots does not keep the old one alive');
  } finally {
    await sub.close();
    await cp.close();
  }
});

test('a silent stream (half-open connection) is replaced after the idle timeout, so new snapshots keep arriving', async () => {
  // The first connection sends one snapshot and then nothing, not even heartbeats.
  const cp = await fakeControlPlane((n, res) => send(res, wire(n)));
  const holder = new SnapshotHolder();
  const sub = subscriber(cp.url, holder, 300);
  sub.start();
  try {
    await until(() => holder.current()?.version === 1, 'version 1');
    await until(() => holder.current()?.version === 2, 'version 2 from a new connection');
  } finally {
    await sub.close();
    await cp.close();
  }
});

test('snapshot expiry is counted on the gateway clock: a control plane 6 minutes ahead does not make a fresh snapshot stale', async () => {
  const ahead = Date.now() + 6 * 60_000;
  const cp = await fakeControlPlane((_n, res) => send(res, wire(1, ahead, 300_000), Date.now() + 6 * 60_000));
  const holder = new SnapshotHolder();
  const sub = subscriber(cp.url, holder);
  sub.start();
  try {
    await until(() => holder.current() !== null, 'a snapshot');
    const left = holder.current()!.expiresAt - Date.now();
    assert.ok(left > 290_000 && left <= 300_000, `expires in ${left} ms`);
  } finally {
    await sub.close();
    await cp.close();
  }
});

test('a snapshot that expired before it was sent (a control plane that cannot build new ones) is stale on arrival', async () => {
  const cp = await fakeControlPlane((_n, res) => send(res, wire(1, Date.now() - 3_600_000, 300_000)));
  const holder = new SnapshotHolder();
  const sub = subscriber(cp.url, holder);
  sub.start();
  try {
    await until(() => holder.current() !== null, 'a snapshot');
    assert.ok(holder.current()!.expiresAt <= Date.now(), 'the gateway fails closed instead of giving it a new life');
  } finally {
    await sub.close();
    await cp.close();
  }
});
