import type { Http2SecureServer, ServerHttp2Session, ServerHttp2Stream } from 'node:http2';

export interface Http2SessionLimits {
  /** A session without frames for this long is closed gracefully (GOAWAY; requests in flight finish). */
  idleTimeoutMs: number;
  /** A request's header block must be complete within this long of its first HEADERS frame. */
  headersTimeoutMs: number;
}

/**
 * How long a session may stay open after a graceful close once no request is in flight. By then
 * every answer is sent and GOAWAY too; what can still hold it open is a header block that never
 * ends, which no request handler ever sees.
 */
export const HTTP2_CLOSE_GRACE_MS = 2_000;

/** Per-session bookkeeping; `onStreamClose` is bound once per session, not per stream. */
class SessionGuard {
  /** Requests (streams with complete headers) not yet closed. */
  open = 0;
  /** Highest stream id whose header block completed. */
  lastStreamId = 0;
  /** Stream id of a header block seen started but not completed, and since when. */
  pendingId = 0;
  pendingSince = 0;
  closing = false;

  constructor(readonly session: ServerHttp2Session) {}

  readonly onStream = (stream: ServerHttp2Stream): void => {
    this.open++;
    const id = stream.id ?? 0;
    if (id > this.lastStreamId) this.lastStreamId = id;
    stream.once('close', this.onStreamClose);
  };

  readonly onStreamClose = (): void => {
    if (--this.open === 0 && this.closing) this.destroyAfterGrace();
  };

  /** Graceful close with a deadline: once nothing is in flight, the session goes within the grace. */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.session.close();
    if (this.open === 0) this.destroyAfterGrace();
  }

  private destroyAfterGrace(): void {
    setTimeout(() => {
      if (!this.session.destroyed && this.open === 0) this.session.destroy();
    }, HTTP2_CLOSE_GRACE_MS).unref();
  }
}

/**
 * HTTP/2 has no counterpart of node:http's headersTimeout, and session.close() waits for open
 * streams, including one whose header block never ends (HEADERS without END_HEADERS, then
 * nothing or a CONTINUATION now and then): such a connection would hold its slot forever, and a
 * few of them exhaust maxConnections. This puts a deadline on both. nghttp2 reports the last
 * stream whose HEADERS it began (lastProcStreamID); a stream id above the last request the
 * session delivered is a header block still in progress, or a stream refused for its headers:
 * either way the session is closed gracefully once the deadline passes (GOAWAY, requests in
 * flight finish, then HTTP2_CLOSE_GRACE_MS). Returns a function that stops the checks.
 */
export function limitHttp2Sessions(server: Http2SecureServer, limits: Http2SessionLimits): () => void {
  const guards = new Set<SessionGuard>();
  server.on('session', (session: ServerHttp2Session) => {
    const guard = new SessionGuard(session);
    guards.add(guard);
    session.on('stream', guard.onStream);
    session.once('close', () => guards.delete(guard));
    session.setTimeout(limits.idleTimeoutMs, () => guard.close());
  });
  // One sweep for all sessions (like node:http's connectionsCheckingInterval) rather than a timer
  // per session: a header block is closed between headersTimeoutMs and 1.5 times that (at most +5 s), plus the grace.
  const sweep = setInterval(
    () => {
      const now = Date.now();
      for (const g of guards) {
        if (g.session.destroyed) {
          guards.delete(g);
          continue;
        }
        const started = g.session.state.lastProcStreamID ?? 0;
        if (started <= g.lastStreamId) {
          g.pendingId = 0;
        } else if (started !== g.pendingId) {
          g.pendingId = started;
          g.pendingSince = now;
        } else if (now - g.pendingSince >= limits.headersTimeoutMs) {
          // Gracefully: a stream nghttp2 refused for its headers looks the same as one still
          // arriving, and the requests in flight beside it must finish. A session holding only an
          // unfinished header block has none, so it goes within the grace.
          g.close();
        }
      }
    },
    Math.min(5_000, Math.max(50, limits.headersTimeoutMs / 2)),
  );
  sweep.unref();
  return () => clearInterval(sweep);
}
