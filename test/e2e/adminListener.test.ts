// The admin API's listener limits, through a real `warden up`: what a client without a token can
// hold open, how long any client may take to send a request, and how many connections it may open.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type TLSSocket } from 'node:tls';
import { startWardenProcess, removeDir, type WardenProcess } from '../helpers/warden.js';

let warden: WardenProcess;
let ca: string;
let port: number;

before(async () => {
  warden = await startWardenProcess({ configYaml: 'server:\n  requestTimeoutSeconds: 2\n  maxConnections: 3\n' });
  ca = readFileSync(warden.ready.caBundle, 'utf8');
  port = Number(new URL(warden.ready.adminUrl).port);
});

after(async () => {
  await warden?.stop();
  if (warden) removeDir(warden.dataDir);
});

function open(): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () => resolve(socket));
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed before the handshake completed')));
  });
}

/** Writes `head` and part of a body, then waits: everything the server sent, and whether it closed the connection. */
function sendAndStall(socket: TLSSocket, head: string, waitMs: number): Promise<{ answer: string; closedByServer: boolean; afterMs: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    let answer = '';
    const giveUp = setTimeout(() => {
      socket.destroy();
      resolve({ answer, closedByServer: false, afterMs: Date.now() - started });
    }, waitMs);
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.once('end', () => {
      clearTimeout(giveUp);
      socket.destroy();
      resolve({ answer, closedByServer: true, afterMs: Date.now() - started });
    });
    socket.on('error', () => undefined);
    socket.write(head + '{"name":"slow"');
  });
}

const postKeys = (auth: string) => `POST /api/v1/keys HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n${auth}\r\n`;

test('a request without a token is refused before its body arrives, and the connection is closed', async () => {
  const r = await sendAndStall(await open(), postKeys(''), 10_000);
  assert.match(r.answer, /^HTTP\/1\.1 401 /);
  assert.match(r.answer, /WARDEN_AUTHN_ADMIN_REQUIRED/);
  assert.match(r.answer, /\r\nconnection: close\r\n/i);
  assert.ok(r.closedByServer, 'the server closes instead of reading the rest of the body');
  assert.ok(r.afterMs < 1500, `closed after ${r.afterMs} ms, before the request deadline`);
});

test('an authenticated request whose body stalls gets 408 at server.requestTimeoutSeconds', async () => {
  const r = await sendAndStall(await open(), postKeys(`authorization: Bearer ${warden.ready.adminToken}\r\n`), 10_000);
  assert.match(r.answer, /^HTTP\/1\.1 408 /);
  assert.ok(r.closedByServer);
  assert.ok(r.afterMs >= 1500 && r.afterMs < 6000, `408 after ${r.afterMs} ms (deadline 2 s)`);
});

test('connections beyond server.maxConnections are refused; the admin API keeps answering', async () => {
  const held = [await open(), await open(), await open()];
  try {
    await assert.rejects(open(), 'the fourth connection is closed when accepted');
  } finally {
    for (const s of held) s.destroy();
  }
  await new Promise((r) => setTimeout(r, 200));
  const res = await fetchHealth();
  assert.match(res, /^HTTP\/1\.1 200 /);
});

async function fetchHealth(): Promise<string> {
  const socket = await open();
  return new Promise((resolve) => {
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.once('end', () => resolve(answer));
    socket.write('GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n');
  });
}
