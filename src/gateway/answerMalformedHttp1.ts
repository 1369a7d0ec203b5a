import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorCodes, type ErrorCode } from '../errors/index.js';
import { errorType } from './errorType.js';

type MalformedCode = 'WARDEN_GATEWAY_MALFORMED_REQUEST' | 'WARDEN_GATEWAY_HEADERS_TOO_LARGE' | 'WARDEN_GATEWAY_HEADERS_TIMEOUT';

/** How long a client may keep the connection after its malformed request was answered. */
const CLOSE_AFTER_ANSWER_MS = 1000;

function codeOf(err: NodeJS.ErrnoException): MalformedCode {
  if (err.code === 'HPE_HEADER_OVERFLOW') return 'WARDEN_GATEWAY_HEADERS_TOO_LARGE';
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return 'WARDEN_GATEWAY_HEADERS_TIMEOUT';
  return 'WARDEN_GATEWAY_MALFORMED_REQUEST';
}

/** The listener's limits the answers name. */
export interface Http1Limits {
  headersTimeoutMs: number;
  maxHeaderBytes: number;
}

function messageOf(code: MalformedCode, err: NodeJS.ErrnoException, limits: Http1Limits): string {
  if (code === 'WARDEN_GATEWAY_HEADERS_TOO_LARGE') return `the request headers exceed ${limits.maxHeaderBytes} bytes`;
  if (code === 'WARDEN_GATEWAY_HEADERS_TIMEOUT') return `the request headers did not arrive within ${limits.headersTimeoutMs} ms`;
  // llhttp's error code names the rule broken; the client's bytes are never repeated.
  return `the request is not valid HTTP/1.1 (${/^HPE_[A-Z_]+$/.test(err.code!) ? err.code : 'unparsable'})`;
}

/**
 * node:http's 'clientError': an HTTP/1.1 request it could not parse (a bad request line or header,
 * a conflicting content-length and transfer-encoding, headers too large or too slow). Without a
 * listener node answers in bare text; this answers in the gateway's error shape with a stable code
 * and a request id, then closes the connection, which can no longer be read in step. No request
 * object exists, so nothing is authenticated or audited: `onMalformed` counts it (metrics). A
 * request already being handled on the connection ends as the client leaving (499, audited).
 */
export function answerMalformedHttp1(err: NodeJS.ErrnoException, socket: Duplex, limits: Http1Limits, onMalformed?: (code: ErrorCode) => void): void {
  // Only node:http's parser errors and its headers deadline are answered. Anything else is no HTTP
  // to answer: the client is gone (a reset), or, on the TLS listener, node:http2 reports a failed
  // TLS handshake here too, on a socket that cannot carry an answer.
  const answerable = typeof err.code === 'string' && (err.code.startsWith('HPE_') || err.code === 'ERR_HTTP_REQUEST_TIMEOUT');
  if (!answerable || !socket.writable) {
    socket.destroy();
    return;
  }
  // A request on this connection is still being handled (its body broke off mid-way, or one sent
  // before this one awaits its answer): the pipeline records it as the client leaving, under its
  // request id. An answer written here would come first, under another id.
  if ((socket as Duplex & { _httpMessage?: unknown })._httpMessage) {
    socket.destroy();
    return;
  }
  const code = codeOf(err);
  onMalformed?.(code);
  const status = errorCodes[code].status;
  const requestId = randomUUID();
  const body = JSON.stringify({ error: { code, message: messageOf(code, err, limits), type: errorType(status), param: null, requestId } });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-warden-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`,
  );
  // Closed even when the client keeps its side open (node:http allows half-open connections): a
  // bad request must not hold a connection slot until some timeout. The delay lets the answer be
  // read before the close; destroying at once could reset the connection over it.
  setTimeout(() => socket.destroy(), CLOSE_AFTER_ANSWER_MS).unref();
}
