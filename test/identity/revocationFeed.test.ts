import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { Agent } from 'undici';
import { RevocationFeed, RevocationList, type IdentityClient } from '../../src/identity/index.js';

test('a revocation stream that stays open but falls silent (hung control plane, half-open connection) is stale', async () => {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`event: snapshot\ndata: ${JSON.stringify({ version: 1, entries: [] })}\n\n`);
    // then nothing: no heartbeat, no FIN
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const dispatcher = new Agent();
  // Only the two members the feed uses; the SVID-authenticated client is covered by the fleet tests.
  const client = { serverUrl: `http://127.0.0.1:${(server.address() as { port: number }).port}`, dispatcher } as unknown as IdentityClient;
  const feed = new RevocationFeed(client, new RevocationList());
  try {
    feed.start();
    await new Promise<void>((r) => feed.once('connected', () => r()));
    assert.equal(feed.isFresh(1000), true, 'fresh right after the snapshot');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(feed.connected, true, 'the connection is still open');
    assert.equal(feed.isFresh(1000), false, 'but 1.5 s of silence is older than the 1 s allowed');
  } finally {
    feed.stop();
    server.closeAllConnections();
    server.close();
    await dispatcher.close();
  }
});
