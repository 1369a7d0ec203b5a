import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { JwksCache } from '../../../src/gateway/authn/JwksCache.js';

test('a JWKS body without content-length is read only up to maxBytes, then the fetch fails (the last keys stay in use)', async () => {
  let written = 0;
  let closed!: () => void;
  const connectionClosed = new Promise<void>((r) => (closed = r));
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }); // chunked: no length announced
    res.write('{"keys":[');
    const filler = ' '.repeat(64 * 1024);
    const timer = setInterval(() => {
      if (!res.write(filler)) return;
      written += filler.length;
    }, 2);
    res.on('close', () => {
      clearInterval(timer);
      closed();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    const cache = new JwksCache({ jwksUri: `http://127.0.0.1:${(server.address() as { port: number }).port}/jwks`, maxAgeSeconds: 60, refreshSeconds: 30, minRefetchSeconds: 1, fetchTimeoutMs: 5000, maxBytes: 256 * 1024 });
    await cache.refresh();
    assert.equal(cache.lastFetchedAt, -Infinity, 'nothing was cached from the oversized document');
    await connectionClosed;
    assert.ok(written < 2 * 1024 * 1024, `the gateway stopped reading near the limit (the endpoint wrote ${written} bytes)`);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
