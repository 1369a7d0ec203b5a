// The listener's resource limits: what a client may hold open before it has proved who it is, and
// how long it may take to send a request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type TLSSocket } from 'node:tls';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import { MAX_CONCURRENT_STREAMS } from '../../src/gateway/index.js';
import { HTTP2_CLOSE_GRACE_MS } from '../../src/gateway/http2SessionLimits.js';
import { TEST_KEY, withTlsGateway } from '../helpers/inProcessGateway.js';
import { h2Frame, hpackLiteral } from '../helpers/h2Frames.js';


function tlsConnect(port: number, ca: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () => resolve(socket));
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed before the handshake completed')));
  });
}

/** Sends `head` (and no body) on HTTP/1.1 over TLS; resolves with everything the gateway sent until it closed the connection. */
function sendHeadOnly(port: number, ca: string, head: string, waitMs = 5000): Promise<{ answer: string; closedByServer: boolean }> {
  return tlsConnect(port, ca).then(
    (socket) =>
      new Promise((resolve) => {
        let answer = '';
        const giveUp = setTimeout(() => {
          socket.destroy();
          resolve({ answer, closedByServer: false });
        }, waitMs);
        socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
        socket.once('end', () => {
          clearTimeout(giveUp);
          socket.destroy();
          resolve({ answer, closedByServer: true });
        });
        socket.on('error', () => undefined);
        socket.write(head);
      }),
  );
}

const postHead = (headers: string) => `POST /v1/embeddings HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 4000\r\n${headers}\r\n`;

test('an anonymous request is refused before its body is read: 401 at once, and the connection is closed instead of reading the body', async () => {
  await withTlsGateway(async (gateway, ca) => {
    const started = Date.now();
    const { answer, closedByServer } = await sendHeadOnly(gateway.port, ca, postHead(''));
    assert.match(answer, /^HTTP\/1\.1 401 /);
    assert.match(answer, /"code":"WARDEN_AUTHN_MISSING"/);
    assert.match(answer, /\r\nconnection: close\r\n/i);
    assert.ok(closedByServer, 'the gateway closed the connection rather than wait for 4000 body bytes');
    assert.ok(Date.now() - started < 4000, 'the answer did not wait for the body');
  });
});

test('a refused request without a body (404, GET) keeps its keep-alive connection: both pipelined requests are answered', async () => {
  await withTlsGateway(async (gateway, ca) => {
    // Authenticated: an anonymous caller gets 401 on any path (and keeps its connection the same way).
    const get = `GET /nope HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer ${TEST_KEY}\r\n\r\n`;
    const r = await sendHeadOnly(gateway.port, ca, get + get, 1500);
    assert.equal(r.answer.match(/HTTP\/1\.1 404 /g)?.length, 2, r.answer);
    assert.doesNotMatch(r.answer, /connection: close/i);
    assert.equal(r.closedByServer, false);
  });
});

test('a body that does not arrive within bodyTimeoutMs gets 408 WARDEN_GATEWAY_BODY_TIMEOUT and a closed connection (HTTP/1.1)', async () => {
  await withTlsGateway(
    async (gateway, ca) => {
      const started = Date.now();
      const { answer, closedByServer } = await sendHeadOnly(gateway.port, ca, `${postHead(`authorization: Bearer ${TEST_KEY}\r\n`)}{"model"`);
      assert.match(answer, /^HTTP\/1\.1 408 /);
      assert.match(answer, /"code":"WARDEN_GATEWAY_BODY_TIMEOUT"/);
      assert.match(answer, /\r\nconnection: close\r\n/i);
      assert.ok(closedByServer);
      assert.ok(Date.now() - started >= 250, 'not before the deadline');
    },
    { bodyTimeoutMs: 300 },
  );
});

function h2Session(port: number, ca: string): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = h2connect(`https://127.0.0.1:${port}`, { ca, servername: 'localhost' });
    session.once('remoteSettings', () => resolve(session));
    session.once('error', reject);
  });
}

test('HTTP/2: a slow body gets 408 on its stream and the session serves the next request; at most 128 streams per session are advertised', async () => {
  await withTlsGateway(
    async (gateway, ca) => {
      const session = await h2Session(gateway.port, ca);
      try {
        assert.equal(session.remoteSettings.maxConcurrentStreams, MAX_CONCURRENT_STREAMS);
        assert.equal(MAX_CONCURRENT_STREAMS, 128);
        const slow = session.request({ ':method': 'POST', ':path': '/v1/embeddings', authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' });
        slow.write('{"model"'); // and never the rest
        const [status, text] = await new Promise<[number, string]>((resolve, reject) => {
          let status = 0;
          let text = '';
          slow.once('response', (h) => (status = Number(h[':status'])));
          slow.on('data', (d: Buffer) => (text += d.toString()));
          slow.once('end', () => resolve([status, text]));
          slow.once('error', reject);
          setTimeout(() => reject(new Error('no answer to the slow stream within 5 s')), 5000).unref();
        });
        assert.equal(status, 408);
        assert.equal(JSON.parse(text).error.code, 'WARDEN_GATEWAY_BODY_TIMEOUT');
        // RFC 9113 §8.1: after a complete answer the server asks the client to stop sending (RST_STREAM NO_ERROR).
        await new Promise<void>((resolve, reject) => {
          if (slow.closed) resolve();
          slow.once('close', () => resolve());
          setTimeout(() => reject(new Error('the gateway left the stream open')), 2000).unref();
        });
        assert.equal(slow.rstCode, 0);
        const next = await new Promise<number>((resolve, reject) => {
          const s = session.request({ ':path': '/healthz' });
          s.once('response', (h) => resolve(Number(h[':status'])));
          s.once('error', reject);
          s.resume();
        });
        assert.equal(next, 200, 'the session is still usable');
      } finally {
        session.destroy();
      }
    },
    { bodyTimeoutMs: 300 },
  );
});

test('connections beyond maxConnections are refused at accept; a freed slot is usable again', async () => {
  await withTlsGateway(
    async (gateway, ca) => {
      const open: TLSSocket[] = [];
      try {
        open.push(await tlsConnect(gateway.port, ca), await tlsConnect(gateway.port, ca));
        await assert.rejects(
          tlsConnect(gateway.port, ca).then((s) => open.push(s)),
          'a third connection is refused',
        );
        open.shift()!.destroy();
        await new Promise((r) => setTimeout(r, 100));
        open.push(await tlsConnect(gateway.port, ca));
      } finally {
        for (const s of open) s.destroy();
      }
    },
    { maxConnections: 2 },
  );
});

/** The status of GET /healthz on an HTTP/2 session. */
function healthzStatus(session: ClientHttp2Session): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = session.request({ ':path': '/healthz' });
    s.once('response', (h) => resolve(Number(h[':status'])));
    s.once('error', reject);
    s.resume();
  });
}


/**
 * Opens an HTTP/2 connection, starts a GET /healthz whose HEADERS frame lacks END_HEADERS and,
 * every `continueEveryMs`, sends one more CONTINUATION fragment that does not end it either.
 * Resolves with the time from that HEADERS frame until the gateway closed the connection (null if it did not within waitMs).
 */
function unfinishedHeaderBlock(port: number, ca: string, waitMs: number, continueEveryMs = 0): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const timers: NodeJS.Timeout[] = [];
    let sentAt = 0;
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ALPNProtocols: ['h2'] }, () => {
      assert.equal(socket.alpnProtocol, 'h2');
      socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), h2Frame(0x4, 0, 0, Buffer.alloc(0))]));
      // :method GET (static index 2), :scheme https (7), :path; END_STREAM but not END_HEADERS.
      socket.write(h2Frame(0x1, 0x1, 1, Buffer.concat([Buffer.from([0x82, 0x87]), hpackLiteral(':path', '/healthz')])));
      sentAt = Date.now();
      let i = 0;
      if (continueEveryMs > 0) timers.push(setInterval(() => socket.write(h2Frame(0x9, 0, 1, hpackLiteral(`x-slow-${i++}`, 'a'))), continueEveryMs));
      timers.push(
        setTimeout(() => {
          socket.destroy();
          resolve(null);
        }, waitMs),
      );
    });
    socket.on('error', () => undefined);
    socket.resume(); // reads the gateway's frames (and its end of the connection)
    socket.once('close', () => {
      for (const t of timers) clearTimeout(t);
      if (sentAt === 0) reject(new Error('closed before the handshake completed'));
      else resolve(Date.now() - sentAt);
    });
  });
}

test('HTTP/2 slow headers: a header block that never ends does not keep the connection open past the idle close', async () => {
  await withTlsGateway(
    async (gateway, ca) => {
      // Idle timeout 300 ms sends GOAWAY; the stream with no complete headers would hold the session forever.
      const closedAfter = await unfinishedHeaderBlock(gateway.port, ca, 8000);
      assert.ok(closedAfter !== null, 'the gateway closed the connection');
      assert.ok(closedAfter < 300 + HTTP2_CLOSE_GRACE_MS + 1500, `closed after ${closedAfter} ms`);
    },
    { idleTimeoutMs: 300, headersTimeoutMs: 60_000 },
  );
});

test('HTTP/2 slow headers: CONTINUATION fragments trickling in do not extend the headers timeout', async () => {
  await withTlsGateway(
    async (gateway, ca) => {
      // One fragment every 250 ms: under nghttp2's own cap of 8 CONTINUATION frames per block within the deadline.
      const closedAfter = await unfinishedHeaderBlock(gateway.port, ca, 8000, 250);
      assert.ok(closedAfter !== null, 'the gateway closed the connection');
      assert.ok(closedAfter >= 400 && closedAfter < 1500 + HTTP2_CLOSE_GRACE_MS, `closed after ${closedAfter} ms`);
    },
    { idleTimeoutMs: 60_000, headersTimeoutMs: 400 },
  );
});

test('HTTP/2 slow headers: unfinished header blocks on every allowed connection do not lock others out for long', async () => {
  await withTlsGateway(
    async (gateway, ca) => {
      const attackers = [unfinishedHeaderBlock(gateway.port, ca, 8000), unfinishedHeaderBlock(gateway.port, ca, 8000)];
      await new Promise((r) => setTimeout(r, 200));
      await assert.rejects(h2Session(gateway.port, ca).then((s) => s.destroy()), 'both slots are taken');
      const closed = await Promise.all(attackers);
      assert.ok(closed.every((ms) => ms !== null), 'the gateway closed both');
      const session = await h2Session(gateway.port, ca);
      try {
        assert.equal(await healthzStatus(session), 200);
      } finally {
        session.destroy();
      }
    },
    { idleTimeoutMs: 60_000, headersTimeoutMs: 400, maxConnections: 2 },
  );
});

test('HTTP/2: a stream refused for its headers does not cut off a slow request in flight on the same connection', async () => {
  await withTlsGateway(
    async (gateway, ca) => {
      const outcome = await new Promise<string>((resolve) => {
        let started = 0;
        let buf = Buffer.alloc(0);
        const socket = connect({ host: '127.0.0.1', port: gateway.port, ca, servername: 'localhost', ALPNProtocols: ['h2'] }, () => {
          void (async () => {
            socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), h2Frame(0x4, 0, 0, Buffer.alloc(0))]));
            // Stream 1: POST (static 3), https (7), its body uploaded over ~2 s (well inside bodyTimeout).
            socket.write(h2Frame(0x1, 0x4, 1, Buffer.concat([Buffer.from([0x83, 0x87]), hpackLiteral(':authority', 'localhost'), hpackLiteral(':path', '/v1/chat/completions'), hpackLiteral('authorization', `Bearer ${TEST_KEY}`), hpackLiteral('content-type', 'application/json')])));
            started = Date.now();
            // Stream 3: GET without :path, malformed: nghttp2 resets it and the gateway never sees a request.
            socket.write(h2Frame(0x1, 0x5, 3, Buffer.concat([Buffer.from([0x82, 0x87]), hpackLiteral(':authority', 'localhost')])));
            const body = Buffer.from(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }));
            for (let i = 0; i < 4; i++) {
              await new Promise((r) => setTimeout(r, 500));
              if (socket.destroyed) return;
              socket.write(h2Frame(0x0, i === 3 ? 0x1 : 0, 1, body.subarray((i * body.length) / 4, ((i + 1) * body.length) / 4)));
            }
          })();
        });
        socket.on('data', (d: Buffer) => {
          buf = Buffer.concat([buf, d]);
          while (buf.length >= 9) {
            const len = buf.readUIntBE(0, 3);
            if (buf.length < 9 + len) break;
            if (buf[3] === 0x1 && buf.readUInt32BE(5) === 1) {
              socket.destroy();
              resolve(`answered after ${Date.now() - started} ms`);
            }
            buf = buf.subarray(9 + len);
          }
        });
        socket.on('error', () => undefined);
        socket.once('close', () => resolve(`closed after ${Date.now() - started} ms without an answer`));
      });
      assert.match(outcome, /^answered/);
    },
    { idleTimeoutMs: 60_000, headersTimeoutMs: 400, bodyTimeoutMs: 30_000 },
  );
});

test('HTTP/2: requests completed on a session are not mistaken for an unfinished header block', async () => {
  await withTlsGateway(
    async (gateway, ca) => {
      const session = await h2Session(gateway.port, ca);
      let closed = false;
      session.once('close', () => (closed = true));
      try {
        for (let i = 0; i < 3; i++) {
          assert.equal(await healthzStatus(session), 200);
        }
        await new Promise((r) => setTimeout(r, 1200));
        assert.equal(closed, false, 'the session stays open between requests');
      } finally {
        session.destroy();
      }
    },
    { idleTimeoutMs: 60_000, headersTimeoutMs: 300 },
  );
});

test('HTTP/1.1 slow headers: the same headersTimeoutMs closes a connection whose header block does not end', async () => {
  await withTlsGateway(
    async (gateway, ca) => {
      const started = Date.now();
      const r = await sendHeadOnly(gateway.port, ca, 'GET /healthz HTTP/1.1\r\nhost: localhost\r\nx-slow: a\r\n', 5000);
      assert.ok(r.closedByServer, 'the gateway closed the connection');
      assert.ok(Date.now() - started < 1500, `closed after ${Date.now() - started} ms`);
    },
    { headersTimeoutMs: 400 },
  );
});
