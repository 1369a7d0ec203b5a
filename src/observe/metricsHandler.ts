import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Registry } from 'prom-client';

export interface MetricsHandlerOptions {
  /** Bearer token required when non-empty. */
  token?: string;
  /**
   * Refuse every scrape while no token is configured (the gateway listener faces clients: its
   * series name every model and its traffic, which `/v1/models/{id}` takes care not to reveal).
   */
  requireToken?: boolean;
  /** Runs before each scrape (gauges computed on demand). Failures are counted, not fatal. */
  beforeScrape?: () => Promise<void>;
}

/** Constant-time comparison of digests, so length and content leak nothing through timing. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  if (!token) return true;
  if (!header || !header.startsWith('Bearer ')) return false;
  const a = createHash('sha256').update(header.slice(7)).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

type Req = IncomingMessage | Http2ServerRequest;
type Res = ServerResponse | Http2ServerResponse;

function sendJson(res: Res, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  (res as ServerResponse).writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'www-authenticate': 'Bearer' });
  res.end(body);
}

/**
 * GET /metrics for a raw node:http(2) listener (the gateway mounts it on its own port).
 * Only GET/HEAD; the token, when configured (or always, with `requireToken`), is required;
 * nothing from the request is echoed.
 */
export function metricsHandler(registry: Registry, options: MetricsHandlerOptions = {}): (req: Req, res: Res) => void {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, 'WARDEN_INPUT_INVALID', 'only GET /metrics');
      return;
    }
    const token = options.token ?? '';
    // Without a token the same 401 as a wrong one: a caller learns nothing of the configuration.
    if ((options.requireToken && !token) || !bearerMatches(req.headers.authorization, token)) {
      sendJson(res, 401, 'WARDEN_OBSERVE_METRICS_UNAUTHORIZED', 'the metrics endpoint needs the configured bearer token (observe.metricsToken)');
      return;
    }
    void (async () => {
      try {
        await options.beforeScrape?.().catch(() => undefined);
        const text = await registry.metrics();
        (res as ServerResponse).writeHead(200, { 'content-type': registry.contentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
        if (req.method === 'HEAD') res.end();
        else res.end(text);
      } catch {
        if (!res.headersSent) sendJson(res, 500, 'WARDEN_INTERNAL', 'metrics could not be collected');
        else res.end();
      }
    })();
  };
}
