import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { errors as undiciErrors } from 'undici';
import { WardenError } from '../../errors/index.js';
import type { RequestContext } from '../RequestContext.js';
import type { UpstreamPool } from '../UpstreamPool.js';

/** Request headers passed to the model server; credentials and hop-by-hop headers never are. */
const FORWARDED_REQUEST_HEADERS = ['content-type', 'accept', 'user-agent', 'traceparent', 'tracestate', 'x-demo-chunk-delay-ms'];
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'set-cookie']);

function forwardedHeaders(ctx: RequestContext): Record<string, string> {
  const out: Record<string, string> = { 'x-warden-request-id': ctx.requestId, 'x-forwarded-for': ctx.sourceIp };
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const v = ctx.req.headers[name];
    if (typeof v === 'string') out[name] = v;
  }
  if (ctx.principal) out['x-warden-principal'] = ctx.principal.id;
  return out;
}

export function responseHeaders(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || HOP_BY_HOP.has(k)) continue;
    out[k] = v;
  }
  return out;
}

function isTimeout(err: unknown): boolean {
  return err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError || (err as { code?: string })?.code === 'UND_ERR_CONNECT_TIMEOUT';
}

/**
 * Stage: forward to the model server over a keep-alive pool and stream the answer back with
 * backpressure. A client that disconnects aborts the upstream request.
 */
export async function forward(ctx: RequestContext, upstreams: UpstreamPool, overheadHeader: () => string): Promise<void> {
  const model = ctx.route?.model ?? null;
  const upstream = model ? upstreams.forModel(model) : upstreams.upstreams[0];
  if (!upstream) throw new WardenError('WARDEN_GATEWAY_ROUTE_NOT_FOUND', model ? `no upstream serves model ${JSON.stringify(model)}` : 'no upstream configured');

  const abort = new AbortController();
  const onClose = (): void => {
    if (!ctx.res.writableFinished) abort.abort();
  };
  ctx.res.once('close', onClose);

  const started = process.hrtime.bigint();
  let response;
  try {
    response = await upstream.pool.request({
      path: upstream.basePath + ctx.path,
      method: ctx.method as 'GET' | 'POST',
      headers: forwardedHeaders(ctx),
      body: ctx.body ?? undefined,
      signal: abort.signal,
    });
  } catch (err) {
    ctx.upstreamNs += process.hrtime.bigint() - started;
    if (abort.signal.aborted) {
      ctx.responded = true;
      ctx.status = 499;
      ctx.errorCode = 'WARDEN_GATEWAY_CLIENT_CLOSED';
      return;
    }
    if (isTimeout(err)) throw new WardenError('WARDEN_GATEWAY_UPSTREAM_TIMEOUT', `model server ${upstream.name} did not answer within ${upstream.timeoutMs} ms`, { cause: err });
    throw new WardenError('WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE', `model server ${upstream.name} is unreachable`, { cause: err });
  }
  ctx.upstreamNs += process.hrtime.bigint() - started;
  ctx.status = response.statusCode;

  const headers = responseHeaders(response.headers);
  headers['x-warden-request-id'] = ctx.requestId;
  headers['x-warden-overhead-ms'] = overheadHeader();
  ctx.res.writeHead(response.statusCode, headers);
  ctx.responded = true;

  const streamStart = process.hrtime.bigint();
  try {
    for await (const chunk of response.body) {
      if (!(ctx.res as ServerResponse).write(chunk as Buffer)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            ctx.res.off('drain', done);
            ctx.res.off('close', done);
            resolve();
          };
          ctx.res.once('drain', done);
          ctx.res.once('close', done);
        });
      }
      if (ctx.res.destroyed) break;
    }
    ctx.res.end();
  } catch (err) {
    // Headers are gone: the only honest signal left is to cut the connection.
    ctx.errorCode = abort.signal.aborted ? 'WARDEN_GATEWAY_CLIENT_CLOSED' : isTimeout(err) ? 'WARDEN_GATEWAY_UPSTREAM_TIMEOUT' : 'WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE';
    ctx.res.destroy();
  } finally {
    ctx.upstreamNs += process.hrtime.bigint() - streamStart;
    ctx.res.off('close', onClose);
    if (abort.signal.aborted) {
      ctx.errorCode ??= 'WARDEN_GATEWAY_CLIENT_CLOSED';
      response.body.destroy();
    }
  }
}
