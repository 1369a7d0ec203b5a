// A raw HTTP/1.1 connection for requests no real client would send (unparsable on purpose): the
// bytes go out as written, and everything the server sends is read until it closes the connection.
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

export interface Exchange {
  /** Everything the server sent until it closed the connection. */
  text: string;
  status: number;
  body: { error: { code: string; message: string; type: string; requestId: string } } | null;
  headers: Record<string, string>;
}

/**
 * Writes `parts` (a pause of `pauseMs` between them) on a new connection to 127.0.0.1:`port` (TLS
 * with `tls`, plain TCP when null) and reads until the server closes it. On a plain connection the
 * client never closes its own side (half-open), so only the server can (node's TLS client answers
 * the server's close itself).
 */
export function rawHttp1Exchange(port: number, tls: ConnectionOptions | null, parts: string[], pauseMs = 0): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const socket = tls ? tlsConnect({ host: '127.0.0.1', port, ...tls }) : netConnect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('the server did not close the connection'));
    }, 5_000);
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('utf8')));
    socket.on('error', () => undefined);
    // Half-open: the server's FIN alone does not show whether it closed its socket. Writing after
    // it does: a closed socket answers with a reset, which closes this one.
    if (!tls) socket.once('end', () => [1500, 1800].forEach((ms) => setTimeout(() => !socket.destroyed && socket.write('x'), ms)));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parseLastAnswer(text));
    });
    socket.once(tls ? 'secureConnect' : 'connect', async () => {
      for (const [i, part] of parts.entries()) {
        if (i > 0) await new Promise((r) => setTimeout(r, pauseMs));
        if (!socket.destroyed) socket.write(part);
      }
    });
  });
}

export const STATUS_LINE = /HTTP\/1\.1 \d{3} /g;

/** The last answer on the connection (earlier, valid requests may have had theirs). */
function parseLastAnswer(text: string): Exchange {
  const starts = [...text.matchAll(STATUS_LINE)];
  const answer = starts.length === 0 ? '' : text.slice(starts.at(-1)!.index);
  const [head = '', body = ''] = answer.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  let json: Exchange['body'] = null;
  try {
    json = JSON.parse(body) as Exchange['body'];
  } catch {
    /* not JSON: asserted by the caller */
  }
  return { text, status: Number(statusLine.split(' ')[1]), body: json, headers };
}

/** The answer is Warden's malformed-request answer: `status`, JSON with `code`, a request id, the connection closed. */
export function assertMalformedAnswer(e: Exchange, status: number, code: string): void {
  assert.equal(e.status, status, e.text);
  assert.ok(e.body, `a JSON error body: ${e.text}`);
  assert.equal(e.body.error.code, code);
  assert.equal(e.headers['content-type'], 'application/json');
  assert.equal(e.headers.connection, 'close');
  assert.match(e.headers['x-warden-request-id'] ?? '', /^[0-9a-f-]{36}$/);
  assert.equal(e.body.error.requestId, e.headers['x-warden-request-id']);
  assert.equal(Number(e.headers['content-length']), Buffer.byteLength(e.text.slice(e.text.lastIndexOf('\r\n\r\n') + 4)));
}

/** content-length and transfer-encoding together, with a second request hidden in the body. */
export const SMUGGLE = 'POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n';
/** A header name with a space in it; its value stands for a secret that must never be echoed. */
export const BAD_HEADER = 'GET /healthz HTTP/1.1\r\nhost: localhost\r\nbad header: secret-token-value\r\n\r\n';
