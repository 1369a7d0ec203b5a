import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { errors as undiciErrors, type Dispatcher } from 'undici';
import { WardenError } from '../../errors/index.js';
import type { Logger } from '../../observe/index.js';
import type { RequestContext } from '../RequestContext.js';
import type { UpstreamPool, Upstream } from '../UpstreamPool.js';
import { REFUSED } from '../CircuitBreaker.js';
import type { GatewayGuards } from '../ResponseGuards.js';
import { cutOff } from '../cutOff.js';
import { responseGone } from '../responseGone.js';
import { completionChars, tokensFromChars, usageTotal, RateLimitedError, type RateLimitPolicy } from '../index-internal.js';
import { admit, MODEL_DIGEST_HEADER } from './admit.js';
import { SseRewriter } from './SseRewriter.js';
import { guardErrorAnswer, MAX_ERROR_ANSWER_BYTES } from './guardErrorAnswer.js';
import { stringifyKeepingNumbers } from '../protocols/stringifyKeepingNumbers.js';
import { UpstreamCall } from './UpstreamCall.js';
import type { UpstreamAnswer } from './UpstreamAnswer.js';

/** Request headers passed to the model server; credentials and hop-by-hop headers never are. */
const FORWARDED_REQUEST_HEADERS = ['content-type', 'accept', 'user-agent', 'traceparent', 'tracestate'];
/**
 * Upstream answer headers never passed on:
 * - hop-by-hop (RFC 9110 §7.6.1) and those HTTP/2 forbids (writeHead would throw on an HTTP/2
 *   client: proxy-connection, http2-settings, host), plus any the upstream names in `Connection`;
 * - those that speak for the gateway's origin, which the client reached, not the model server:
 *   cookies, `strict-transport-security` (max-age=0 would switch HSTS off), `alt-svc` (would send
 *   clients elsewhere), `www-authenticate` (clients authenticate to Warden), `proxy-authenticate`;
 * - `server` and `x-powered-by`, which only tell a client what runs behind the gateway;
 * - every `x-warden-*` header (checked by prefix below): clients take them as Warden's own
 *   (`x-warden-principal: Admin::"root"`). The gateway sets its request id and overhead itself,
 *   and the model digest only once admission has checked it.
 * `via`, CORS and content headers pass.
 */
const DROPPED_RESPONSE_HEADERS = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings', 'host',
  'set-cookie', 'strict-transport-security', 'alt-svc', 'www-authenticate', 'server', 'x-powered-by',
]);
const WARDEN_HEADER_PREFIX = 'x-warden-';
/** Largest upstream answer the gateway buffers to inspect (streams are never buffered). */
const MAX_BUFFERED_RESPONSE = 32 * 1024 * 1024;

export interface ForwardOptions {
  guards: GatewayGuards | null;
  rateLimit: RateLimitPolicy | null;
  /** Adds the W3C trace context of this request's span (tracing on) to the upstream call. */
  trace?: { inject(headers: Record<string, string>): void };
  overheadHeader: () => string;
  /** For the gateway's own failures once an answer is under way (earlier ones are the pipeline's to log). */
  logger: Pick<Logger, 'error'>;
}

function forwardedHeaders(ctx: RequestContext, trace: ForwardOptions['trace']): Record<string, string> {
  const out: Record<string, string> = { 'x-warden-request-id': ctx.requestId, 'x-forwarded-for': ctx.sourceIp };
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const v = ctx.req.headers[name];
    if (typeof v === 'string') out[name] = v;
  }
  if (ctx.principal) out['x-warden-principal'] = ctx.principal.id;
  trace?.inject(out);
  return out;
}

export function responseHeaders(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const connection = headers.connection;
  const named = connection ? String(connection).toLowerCase().split(',').map((name) => name.trim()) : null;
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || DROPPED_RESPONSE_HEADERS.has(k) || k.startsWith(WARDEN_HEADER_PREFIX) || (named !== null && named.includes(k))) continue;
    out[k] = v;
  }
  return out;
}

/** Errors raised before a connection existed, so nothing was sent: safe to retry even a POST. */
const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);
function isConnectFailure(err: unknown): boolean {
  return CONNECT_FAILURES.has((err as { code?: string })?.code ?? '');
}

/** Answers that say the upstream itself is in trouble (counted by the circuit breaker). */
function isUpstreamFailureStatus(status: number): boolean {
  return status === 502 || status === 503 || status === 504;
}

/**
 * Who a deadline failure may be down to. A model server that takes longer than the deadlines for
 * one request (no headers within timeoutMs, a silence within the answer, maxDurationMs, its own
 * proxy's 504) may be doing what that request asked of it (a large max_tokens, a huge prompt):
 * the requester's principal, so one client cannot open the circuit for everyone (CircuitBreaker).
 */
function requesterOf(ctx: RequestContext): string {
  const e = ctx.principal?.entity;
  return e ? `${e.type}::${e.id}` : ctx.sourceIp;
}

function isTimeout(err: unknown): boolean {
  return err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError || (err as { code?: string })?.code === 'UND_ERR_CONNECT_TIMEOUT';
}

/**
 * Writes a chunk; when the client's buffer is full, a promise that settles once it drains, the
 * client leaves or the call is aborted. Nothing to wait for when the client is gone already: its
 * 'close' has fired, and an HTTP/2 stream that was reset returns false from every write. A client
 * that reads nothing for the upstream's timeoutMs would hold the upstream call (and one of its
 * pool connections) open for as long as it likes: the call is aborted (CLIENT_STALLED).
 */
function write(res: RequestContext['res'], chunk: Buffer | string, call: UpstreamCall): Promise<void> | null {
  if ((res as ServerResponse).write(chunk) || responseGone(res) || call.aborted) return null;
  call.awaitingClient = true;
  return new Promise<void>((resolve) => {
    const done = (): void => {
      call.awaitingClient = false;
      clearTimeout(stall);
      res.off('drain', done);
      res.off('close', done);
      call.off('abort', done);
      resolve();
    };
    const stall = setTimeout(() => call.clientStalled(), call.upstream.timeoutMs);
    res.once('drain', done);
    res.once('close', done);
    call.once('abort', done);
  });
}

/** Aborts the call if the client left and it is not aborted yet (the response's 'close' may not have been emitted). */
function abortIfClientGone(ctx: RequestContext, call: UpstreamCall): void {
  if (!call.aborted && responseGone(ctx.res)) call.clientClosed();
}

/** Throws the call's abort reason, aborting it first if the client left. */
function throwIfAborted(ctx: RequestContext, call: UpstreamCall): void {
  abortIfClientGone(ctx, call);
  if (call.aborted) throw call.reason;
}

/** Whether an error code says the client, not the upstream, ended the call. */
function isClientGone(code: string | null): boolean {
  return code === 'WARDEN_GATEWAY_CLIENT_CLOSED' || code === 'WARDEN_GATEWAY_CLIENT_STALLED';
}

/**
 * Output guards read JSON answers and SSE streams, and error answers as text (guardErrorAnswer).
 * An answer they must read but cannot (compressed, or a success of another content type) is
 * withheld rather than passed through unread.
 */
function refuseUninspectable(response: UpstreamAnswer, contentType: string, guardsRead: boolean): void {
  if (!guardsRead) return;
  const encoding = response.headers['content-encoding'];
  const encoded = encoding !== undefined && encoding !== 'identity';
  const readable = response.statusCode >= 300 || contentType.startsWith('application/json') || contentType.startsWith('text/event-stream');
  if (!encoded && readable) return;
  // Thrown inside forward's try: its finally drops the unread answer.
  throw new WardenError(
    'WARDEN_GATEWAY_UPSTREAM_UNINSPECTABLE',
    `the model server answered with ${encoded ? `content-encoding ${JSON.stringify(String(encoding).slice(0, 32))}` : `content-type ${JSON.stringify(contentType.slice(0, 64))}`}, which the output guards cannot read; the answer is withheld`,
  );
}

/** Tokens of a call whose upstream reported no usable `usage`: the prompt estimate plus its completion text. */
function estimatedTotal(promptTokens: number, chars: number): number {
  return promptTokens + tokensFromChars(chars);
}

/**
 * A streamed OpenAI call reports `usage` only when asked (`stream_options.include_usage`): asks
 * for it in the upstream request, so token limits see the real completion size. Returns whether
 * the gateway asked (the client did not), i.e. whether `usage` must be hidden from the client.
 */
function askForStreamUsage(ctx: RequestContext): boolean {
  const kind = ctx.route?.kind;
  const json = ctx.json;
  if ((kind !== 'openai.chat' && kind !== 'openai.completions') || !json || json.stream !== true) return false;
  const options = json.stream_options;
  if (options && typeof options === 'object' && (options as { include_usage?: unknown }).include_usage === true) return false;
  json.stream_options = { ...(options && typeof options === 'object' ? options : {}), include_usage: true };
  ctx.body = Buffer.from(stringifyKeepingNumbers(json, ctx.body?.toString('utf8') ?? ''));
  return true;
}

/** The upstream's answer could not be passed on (passHead): its fault, counted against its circuit. */
class UnpassableAnswerError extends WardenError {}

/**
 * Starts the client's answer with the upstream's status and headers. Node refuses some an upstream
 * may send (a status outside 200..599 to an HTTP/2 client, a header repeated that HTTP/2 allows
 * once): the model server's bad answer (502), not the gateway's failure.
 */
function passHead(ctx: RequestContext, upstream: Upstream, status: number, headers: Record<string, string | string[]>): void {
  try {
    ctx.res.writeHead(status, headers);
  } catch (err) {
    // node:http2 sets the headers before it refuses the status: none of them may reach the error answer.
    for (const name of ctx.res.getHeaderNames()) ctx.res.removeHeader(name);
    throw new UnpassableAnswerError('WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE', `model server ${upstream.name} answered with a status or headers that cannot be passed on`, { cause: err });
  }
  ctx.responded = true;
}

const NOT_JSON = Symbol('not JSON');

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return NOT_JSON;
  }
}

/** Answers the client with a buffered (inspected) upstream answer. */
function sendWhole(ctx: RequestContext, upstream: Upstream, status: number, headers: Record<string, string | string[]>, text: Buffer, o: ForwardOptions): void {
  headers['content-length'] = String(text.length);
  headers['x-warden-overhead-ms'] = o.overheadHeader();
  passHead(ctx, upstream, status, headers);
  ctx.res.end(text);
}

/**
 * Sends the request; retries (with backoff) only when the connection could not be opened. The
 * call's headers deadline (armed by the caller) bounds the whole: queueing, attempts and backoff.
 */
async function requestUpstream(upstream: Upstream, ctx: RequestContext, trace: ForwardOptions['trace'], call: UpstreamCall): Promise<UpstreamAnswer> {
  const options: Dispatcher.DispatchOptions = { path: upstream.basePath + ctx.path, method: ctx.method as Dispatcher.HttpMethod, headers: forwardedHeaders(ctx, trace), body: ctx.body ?? undefined };
  const deadline = Date.now() + upstream.timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await call.send(options);
    } catch (err) {
      // Retries stay within the upstream's timeout: a connect timeout per attempt would otherwise add up.
      // No retry once the circuit opened meanwhile (a failed health check, other requests' failures).
      if (attempt >= upstream.retries || !isConnectFailure(err) || call.aborted || Date.now() + 100 * 2 ** attempt >= deadline || upstream.breaker.isOpen()) throw err;
      await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
      if (upstream.breaker.isOpen()) throw err;
    }
  }
}

/**
 * The upstream a forwarded request goes to: the one serving its model (or the first, for a route
 * without a model). None is 404 WARDEN_GATEWAY_ROUTE_NOT_FOUND.
 */
export function upstreamFor(ctx: RequestContext, upstreams: UpstreamPool): Upstream {
  const model = ctx.route?.model ?? null;
  const upstream: Upstream | null | undefined = model ? upstreams.forModel(model) : upstreams.upstreams[0];
  if (!upstream) throw new WardenError('WARDEN_GATEWAY_ROUTE_NOT_FOUND', model ? `no upstream serves model ${JSON.stringify(model)}` : 'no upstream configured');
  return upstream;
}

/**
 * Stage: forward to the model server (from upstreamFor) over a keep-alive pool and answer the
 * client: streams are passed through event by event with backpressure (rewritten only when a
 * guard needs it), JSON answers are inspected when a guard or token accounting needs them. A
 * client that disconnects aborts the upstream request.
 */
export async function forward(ctx: RequestContext, upstream: Upstream, o: ForwardOptions): Promise<void> {

  if (responseGone(ctx.res)) {
    // The client left while the request was in earlier stages (guards, a Redis rate limiter): no
    // upstream call. Checked before the breaker, whose half-open trial must go to a live request.
    ctx.responded = true;
    ctx.status = 499;
    ctx.errorCode = 'WARDEN_GATEWAY_CLIENT_CLOSED';
    return;
  }
  // Only this request's own outcome may end a half-open trial it was given.
  const ticket = upstream.breaker.allow();
  if (ticket === REFUSED) {
    const waitMs = upstream.breaker.retryAfterMs();
    // Same shape as a rate limit: the client gets retry-after.
    throw new RateLimitedError('WARDEN_GATEWAY_UPSTREAM_CIRCUIT_OPEN', `model server ${upstream.name} is failing; requests fail fast for ${Math.ceil(waitMs / 1000)} s`, waitMs);
  }
  const grant = ctx.rateGrant;
  const needsUsage = grant !== null && grant.tokenTakes.length > 0 && o.rateLimit !== null;
  const hideUsage = needsUsage && upstream.requestStreamUsage && askForStreamUsage(ctx);
  const call = new UpstreamCall(upstream);
  // Not `writableFinished`: an HTTP/2 response reports the stream's, true once the client reset it.
  const onClose = (): void => {
    if (!ctx.res.writableEnded) call.clientClosed();
  };
  ctx.res.once('close', onClose);

  const started = process.hrtime.bigint();
  let response: UpstreamAnswer;
  call.armHeadersDeadline();
  try {
    response = await requestUpstream(upstream, ctx, o.trace, call);
  } catch (err) {
    ctx.upstreamNs += process.hrtime.bigint() - started;
    ctx.res.off('close', onClose);
    call.clearDeadline();
    if (call.reason?.code === 'WARDEN_GATEWAY_CLIENT_CLOSED') {
      upstream.breaker.release(ticket);
      ctx.responded = true;
      ctx.status = 499;
      ctx.errorCode = 'WARDEN_GATEWAY_CLIENT_CLOSED';
      return;
    }
    // The headers deadline passed while the pool was full: says nothing about the model server's health.
    if (call.poolBusy) upstream.breaker.release(ticket);
    // Sent and not answered in time: maybe what it asked for; not sent (no connection, a handshake
    // that hangs): the model server's alone.
    else upstream.breaker.failure(ticket, call.sent && (call.aborted || isTimeout(err)) ? requesterOf(ctx) : undefined);
    if (call.aborted) throw call.reason!;
    if (isTimeout(err)) throw new WardenError('WARDEN_GATEWAY_UPSTREAM_TIMEOUT', `model server ${upstream.name} did not answer within ${upstream.timeoutMs} ms`, { cause: err });
    throw new WardenError('WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE', `model server ${upstream.name} is unreachable`, { cause: err });
  }
  call.armTotalDeadline();
  // Any other answer is judged once it is complete: one that breaks off midway is a failure too.
  const judged = isUpstreamFailureStatus(response.statusCode);
  if (judged) upstream.breaker.failure(ticket, response.statusCode === 504 ? requesterOf(ctx) : undefined);
  // Set when the answer broke off for the upstream's reasons (a silence, the connection lost, maxDurationMs).
  let broke = false;
  ctx.upstreamNs += process.hrtime.bigint() - started;
  const reported = response.headers[MODEL_DIGEST_HEADER];
  let admittedDigest: string | null = null;
  if (reported !== undefined || (upstream.requireModelDigest && ctx.route?.model)) {
    try {
      if (reported === undefined) {
        throw new WardenError('WARDEN_ADMISSION_DIGEST_MISSING', `model server ${upstream.name} did not report the digest of the model it serves (${MODEL_DIGEST_HEADER}); this upstream requires it`);
      }
      // The header twice (a sidecar in front adding its own, say): which model is served is unclear, so nothing is.
      if (typeof reported !== 'string') {
        throw new WardenError('WARDEN_ADMISSION_DIGEST_MISMATCH', `model server ${upstream.name} reported ${MODEL_DIGEST_HEADER} more than once; the answer is withheld`);
      }
      admittedDigest = admit(ctx, reported);
    } catch (err) {
      response.discard();
      ctx.res.off('close', onClose);
      call.clearDeadline();
      if (!judged) upstream.breaker.success(); // it answered; which model it serves is admission's business
      throw err;
    }
  }
  ctx.status = response.statusCode;
  const contentType = String(response.headers['content-type'] ?? '');
  const headers = responseHeaders(response.headers);
  headers['x-warden-request-id'] = ctx.requestId;
  // Only a digest admission compared with the serving version's pinned one is shown (in Warden's form).
  if (admittedDigest !== null) headers[MODEL_DIGEST_HEADER] = admittedDigest;

  const onTotal = (total: number): void => {
    if (needsUsage) void Promise.resolve(o.rateLimit!.correctTokens(grant!, total)).catch(() => undefined);
  };
  // The output guards read this route's answers (chat, completions, OIP infer).
  const guardsRead = o.guards?.wantsResponse(ctx) ?? false;
  const streamStart = process.hrtime.bigint();
  let rewriter: SseRewriter | null = null;
  let passedBytes: number | null = null;
  try {
    refuseUninspectable(response, contentType, guardsRead);
    if (contentType.startsWith('text/event-stream')) {
      const guards = o.guards;
      const first = guards?.streamTransformer(ctx) ?? null;
      rewriter = first || needsUsage ? new SseRewriter(first && guards ? { first, more: () => guards.streamTransformer(ctx)! } : null, hideUsage) : null;
      headers['x-warden-overhead-ms'] = o.overheadHeader();
      if (rewriter) delete headers['content-length'];
      passHead(ctx, upstream, response.statusCode, headers);
      for await (const chunk of response.stream()) {
        const out = rewriter ? rewriter.push(chunk as Buffer) : (chunk as Buffer);
        if (out.length > 0) {
          const wait = write(ctx.res, out, call);
          if (wait) await wait;
        }
        throwIfAborted(ctx, call);
      }
      if (rewriter) {
        const rest = rewriter.end();
        if (rest) write(ctx.res, rest, call);
      }
      ctx.res.end();
      return;
    }
    if (guardsRead && response.statusCode >= 300) {
      const text = guardErrorAnswer(ctx, o.guards!, await response.readAll(MAX_ERROR_ANSWER_BYTES));
      sendWhole(ctx, upstream, response.statusCode, headers, text, o);
      return;
    }
    const inspect = contentType.startsWith('application/json') && response.statusCode < 300 && (needsUsage || guardsRead);
    if (inspect) {
      const raw = await response.readAll(MAX_BUFFERED_RESPONSE);
      let text = raw;
      const rawText = raw.toString('utf8');
      const json = parseJson(rawText);
      if (json === NOT_JSON) {
        // Not JSON after all: fine for token accounting alone (estimated from its size), not for guards that must read it.
        if (needsUsage) onTotal(estimatedTotal(grant!.estimatedTokens, raw.length));
        if (guardsRead) throw new WardenError('WARDEN_GATEWAY_UPSTREAM_UNINSPECTABLE', 'the model server answer is labelled JSON but does not parse, so the output guards cannot read it; the answer is withheld');
      } else {
        // Outside the parse's try: a guard's own failure here is the gateway's (WARDEN_INTERNAL), not an unreadable answer.
        if (needsUsage) onTotal((json && typeof json === 'object' ? usageTotal((json as { usage?: unknown }).usage) : null) ?? estimatedTotal(grant!.estimatedTokens, completionChars(json)));
        const rewritten = o.guards ? o.guards.transformJson(ctx, json) : json;
        if (rewritten !== json) text = Buffer.from(stringifyKeepingNumbers(rewritten, rawText));
      }
      sendWhole(ctx, upstream, response.statusCode, headers, text, o);
      return;
    }
    headers['x-warden-overhead-ms'] = o.overheadHeader();
    passHead(ctx, upstream, response.statusCode, headers);
    // A success of another content type (an SSE stream labelled text/plain or not at all) is
    // still a completion: charged by its size, framing included, as the only measure left.
    if (needsUsage && response.statusCode < 300) passedBytes = 0;
    for await (const chunk of response.stream()) {
      if (passedBytes !== null) passedBytes += (chunk as Buffer).length;
      const wait = write(ctx.res, chunk as Buffer, call);
      if (wait) await wait;
      throwIfAborted(ctx, call);
    }
    ctx.res.end();
  } catch (err) {
    // Aborted by the gateway (client gone, a deadline): the reason, whatever undici reported.
    abortIfClientGone(ctx, call);
    const e = call.aborted ? call.reason! : err;
    // Whose failure it was. The upstream's when the error undici reported for its side (the
    // connection lost, the answer broken off or silent) is what ended the answer, or when it missed
    // a deadline: those count against its circuit. The gateway's refusals (guards, an answer it
    // cannot read or pass on) do not; nor does any other throw, the gateway's own (a guard's bug,
    // say), which is not blamed on the model server to the client or in the audit record either.
    const upstreamBroke = response.upstreamError !== null && e === response.upstreamError;
    ctx.errorCode = e instanceof WardenError ? e.code : !upstreamBroke ? 'WARDEN_INTERNAL' : isTimeout(e) ? 'WARDEN_GATEWAY_UPSTREAM_TIMEOUT' : 'WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE';
    const clientGone = isClientGone(ctx.errorCode);
    broke = upstreamBroke || e instanceof UnpassableAnswerError || (ctx.errorCode === 'WARDEN_GATEWAY_UPSTREAM_TIMEOUT' && !call.outlastedBySlowClient);
    if (!ctx.responded && !clientGone) {
      // The pipeline answers (500 WARDEN_INTERNAL for the gateway's own failure) and logs it.
      if (e instanceof WardenError || !upstreamBroke) throw e;
      // The answer broke off while the gateway was reading it (guards, token accounting): nothing
      // was sent yet, so the client gets a clean 502/504.
      throw new WardenError(ctx.errorCode as 'WARDEN_GATEWAY_UPSTREAM_TIMEOUT' | 'WARDEN_GATEWAY_UPSTREAM_UNAVAILABLE', `model server ${upstream.name} ${ctx.errorCode === 'WARDEN_GATEWAY_UPSTREAM_TIMEOUT' ? 'stopped sending its answer' : 'broke off its answer'}`, { cause: err });
    }
    if (ctx.errorCode === 'WARDEN_INTERNAL') o.logger.error({ err: e, requestId: ctx.requestId }, 'unexpected gateway error');
    // Headers are gone: the only honest signal left is to end the stream early / cut the connection.
    if (ctx.responded && contentType.startsWith('text/event-stream') && !clientGone) {
      // What went wrong, in the gateway's words (an error's own message never reaches the client).
      const message =
        e instanceof WardenError ? e.message
        : !upstreamBroke ? 'the gateway failed while passing on the answer'
        : `model server ${upstream.name} ${ctx.errorCode === 'WARDEN_GATEWAY_UPSTREAM_TIMEOUT' ? `sent nothing for ${upstream.timeoutMs} ms` : 'broke off'} in the middle of its answer`;
      const held = rewriter?.flushHeld() ?? '';
      (ctx.res as ServerResponse).end(`${held}event: error\ndata: ${JSON.stringify({ error: { code: ctx.errorCode, message, requestId: ctx.requestId } })}\n\n`);
    } else cutOff(ctx.res, e as Error);
  } finally {
    // Charged once, when the stream ends: its last `usage`, or (not reported, cut off, client gone) the text it carried.
    if (needsUsage && rewriter) onTotal(usageTotal(rewriter.usage) ?? estimatedTotal(grant!.estimatedTokens, rewriter.completionChars));
    else if (passedBytes !== null) onTotal(estimatedTotal(grant!.estimatedTokens, passedBytes));
    ctx.upstreamNs += process.hrtime.bigint() - streamStart;
    ctx.res.off('close', onClose);
    call.clearDeadline();
    if (call.aborted) {
      ctx.errorCode ??= call.reason!.code;
      // Gone before anything was sent (while a guard read the answer, say): recorded like a client gone earlier.
      if (!ctx.responded && isClientGone(ctx.errorCode)) {
        ctx.responded = true;
        ctx.status = 499;
      }
    }
    // Whatever ended the answer early (an abort, a throw before it was read: writeHead refusing a
    // status, say) drops what is left of it; a paused, unread answer would hold its connection forever.
    response.discard();
    if (!judged) {
      if (broke) upstream.breaker.failure(ticket, ctx.errorCode === 'WARDEN_GATEWAY_UPSTREAM_TIMEOUT' ? requesterOf(ctx) : undefined);
      else if (isClientGone(ctx.errorCode) || call.outlastedBySlowClient) upstream.breaker.release(ticket);
      else upstream.breaker.success();
    }
  }
}
