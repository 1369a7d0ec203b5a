import { constants as http2Constants } from 'node:http2';
import { WardenError } from '../../errors/index.js';
import type { GatewayRequest, RequestContext } from '../RequestContext.js';
import { allowsMethod, matchRoute } from '../protocols/routes.js';
import { methodNotAllowed } from '../protocols/MethodNotAllowedError.js';
import { DEFAULT_VALIDATION_LIMITS, isKnownFieldName, modelField } from '../validate/index.js';
import { scanJson } from './scanJson.js';

export interface ReceiveOptions {
  maxBodyBytes: number;
  /** Deepest JSON nesting accepted (guards the parser and later stages). */
  maxJsonDepth: number;
  /** The whole body must arrive within this long of the request start (slow-upload protection, both protocols). */
  bodyTimeoutMs: number;
}

/**
 * Whether the client abandoned its upload: an HTTP/1.1 connection dropped before the body was
 * complete, or an HTTP/2 stream reset (or its session gone). The compat request of a reset stream
 * still emits 'end', so 'end' alone does not mean the body arrived.
 */
function uploadAbandoned(req: GatewayRequest): boolean {
  if ('stream' in req) {
    const rst = req.stream.rstCode;
    return req.aborted || (rst !== undefined && rst !== http2Constants.NGHTTP2_NO_ERROR);
  }
  return req.destroyed && !req.complete;
}

/** The client, not the gateway, ended the request: a 499 without an error-level log (clients could otherwise raise internal-error alerts at will). */
function clientClosed(cause?: unknown): WardenError {
  return new WardenError('WARDEN_GATEWAY_CLIENT_CLOSED', 'the client closed the request before its body was complete', { cause });
}

function readBody(ctx: RequestContext, limit: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const req = ctx.req;
    // Gone while authentication ran, or while an HTTP/1.1 request waited behind another on its
    // connection: no 'end', 'error' or 'close' is coming any more.
    if (req.destroyed || uploadAbandoned(req)) {
      reject(clientClosed());
      return;
    }
    // 'close' follows every 'end': settled keeps it from building an error (a stack trace) per request.
    let settled = false;
    const fail = (err: Error): void => {
      settled = true;
      clearTimeout(timer);
      req.off('data', onData);
      reject(err);
    };
    // HTTP/1.1's requestTimeout is 5 min and HTTP/2 streams have none: a client dripping its body
    // would hold a request slot for as long as it likes.
    // (A body that has fully arrived, the usual case, needs no timer.)
    const waitedMs = Number(process.hrtime.bigint() - ctx.startNs) / 1e6;
    const timer = req.complete ? undefined : setTimeout(() => fail(new WardenError('WARDEN_GATEWAY_BODY_TIMEOUT', `the request body did not arrive within ${Math.round(timeoutMs / 1000)} s`)), Math.max(0, timeoutMs - waitedMs));
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) fail(new WardenError('WARDEN_GATEWAY_BODY_TOO_LARGE', `request body exceeds ${limit} bytes`));
      else chunks.push(chunk);
    };
    const complete = (): void => {
      if (settled) return;
      if (uploadAbandoned(req)) return fail(clientClosed());
      settled = true;
      clearTimeout(timer);
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    req.on('data', onData);
    // HTTP/2: a client cancelling its upload may send END_STREAM and RST_STREAM CANCEL in one
    // write, and 'end' is emitted before the reset behind it is processed. The body counts as
    // complete only after the frames read with its END_STREAM (setImmediate: after this read):
    // otherwise half a body would be parsed, the client's leaving recorded as its bad JSON, and a
    // whole one authorized and rate-limited for a client already gone.
    req.once('end', () => ('stream' in req ? setImmediate(complete) : complete()));
    // A dropped connection is the client's doing ('aborted', ECONNRESET), not the gateway's fault.
    req.once('error', (err: NodeJS.ErrnoException) => {
      if (!settled) fail(uploadAbandoned(req) || err.code === 'ECONNRESET' ? clientClosed(err) : err);
    });
    // Closed without 'end' or 'error' (an HTTP/2 session destroyed): settles instead of waiting for the body deadline.
    req.once('close', () => {
      if (!settled) fail(clientClosed());
    });
  });
}

/**
 * Stage 1: route the path, check the method and the declared body size. Returns the refusal
 * rather than throwing it: the pipeline gives it only after authentication, so anonymous callers
 * cannot probe routes and every refusal of a known caller is recorded with its principal. The body
 * itself is read only after authentication (readRequestBody), so anonymous callers cannot make the
 * gateway buffer it.
 */
export function receive(ctx: RequestContext, options: ReceiveOptions): WardenError | null {
  const route = matchRoute(ctx.path);
  if (!route) return new WardenError('WARDEN_GATEWAY_ROUTE_NOT_FOUND', `no route for ${ctx.path}`);
  if (!allowsMethod(route, ctx.method)) return methodNotAllowed(ctx, route);
  ctx.route = route;
  if (!route.hasBody) return null;

  const declared = Number(ctx.req.headers['content-length'] ?? NaN);
  if (declared > options.maxBodyBytes) return new WardenError('WARDEN_GATEWAY_BODY_TOO_LARGE', `request body exceeds ${options.maxBodyBytes} bytes`);
  return null;
}

/** After authentication: reads the body (size limit and deadline) for routes that take one. */
export async function readRequestBody(ctx: RequestContext, options: ReceiveOptions): Promise<void> {
  if (ctx.route?.hasBody) ctx.body = await readBody(ctx, options.maxBodyBytes, options.bodyTimeoutMs);
}

/**
 * Strict: invalid bytes would read as U+FFFD to the guards while the model server received the raw
 * bytes (JSON must be UTF-8, RFC 8259 §8.1). A BOM is kept, so JSON.parse refuses it as before.
 */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Stage after authentication: parse the JSON body (depth-limited) and take the model from it.
 * Anonymous callers never reach it, so they learn nothing of the schema and cannot make the
 * gateway parse megabytes of JSON.
 */
export function parseBody(ctx: RequestContext, options: ReceiveOptions): void {
  const body = ctx.body;
  if (!ctx.route?.hasBody || body === null) return;
  // Triton's binary tensor extension: a JSON header followed by raw tensor bytes. Named, rather
  // than reported as JSON that does not parse.
  if (ctx.req.headers['inference-header-content-length'] !== undefined) {
    throw new WardenError('WARDEN_GATEWAY_INVALID_REQUEST', 'the binary tensor extension (Inference-Header-Content-Length) is not supported; send tensors as JSON (binary_data: false)');
  }
  // Compressed bodies are not inflated here (an inflate bomb would need its own budget); a body
  // merely labelled compressed would reach the model server without its label (not forwarded).
  const encoding = ctx.req.headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    // Named only when it looks like coding names: the header is client text.
    const named = /^[A-Za-z0-9._-]{1,32}(?:\s*,\s*[A-Za-z0-9._-]{1,32}){0,3}$/.test(encoding.trim()) ? encoding.trim() : 'this';
    throw new WardenError('WARDEN_GATEWAY_UNSUPPORTED_ENCODING', `content-encoding ${named} is not supported; send the request body uncompressed`);
  }
  let text: string;
  try {
    text = UTF8.decode(body);
  } catch {
    throw new WardenError('WARDEN_GATEWAY_BAD_JSON', 'request body is not UTF-8');
  }
  const scan = scanJson(text, options.maxJsonDepth);
  if (scan.tooDeep) throw new WardenError('WARDEN_GATEWAY_BAD_JSON', `JSON nesting deeper than ${options.maxJsonDepth}`);
  if (scan.duplicateKey !== null) {
    // Named only when it (folded) is a protocol field: any other key is client text, and errors never repeat client text.
    const which = isKnownFieldName(scan.duplicateKey) ? `the key "${scan.duplicateKey}"` : 'an object key';
    throw new WardenError('WARDEN_GATEWAY_BAD_JSON', `${which} appears twice in one object (in protocol objects, keys differing only in letter case count as one); model servers could read the other value`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new WardenError('WARDEN_GATEWAY_BAD_JSON', 'request body is not valid JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new WardenError('WARDEN_GATEWAY_BAD_JSON', 'request body must be a JSON object');
  ctx.json = json as Record<string, unknown>;
  const route = ctx.route;
  if (route.model === null) {
    const model = ctx.json.model;
    // Checked here, not at the validate stage: authorization needs the model. Same code, message
    // and param as the validator's refusals, so clients handle every bad field one way.
    const wrong = model === undefined || model === null ? 'is required' : modelField(model, DEFAULT_VALIDATION_LIMITS);
    if (wrong !== null) throw new WardenError('WARDEN_GATEWAY_INVALID_REQUEST', `model: ${wrong}`, { param: 'model' });
    route.model = model as string;
  }
}
