import { WardenError } from '../../errors/index.js';
import type { RequestContext } from '../RequestContext.js';
import { matchRoute } from '../protocols/routes.js';
import { scanJson } from './scanJson.js';

export interface ReceiveOptions {
  maxBodyBytes: number;
  /** Deepest JSON nesting accepted (guards the parser and later stages). */
  maxJsonDepth: number;
}

function readBody(ctx: RequestContext, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const req = ctx.req;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        reject(new WardenError('WARDEN_GATEWAY_BODY_TOO_LARGE', `request body exceeds ${limit} bytes`));
        req.resume();
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    req.once('error', reject);
  });
}

/** Stage 1: route the path, enforce method and size limits, read the body (parsed after authentication). */
export async function receive(ctx: RequestContext, options: ReceiveOptions): Promise<void> {
  const route = matchRoute(ctx.path);
  if (!route) throw new WardenError('WARDEN_GATEWAY_ROUTE_NOT_FOUND', `no route for ${ctx.path}`);
  if (route.method !== ctx.method) throw new WardenError('WARDEN_GATEWAY_METHOD_NOT_ALLOWED', `${ctx.method} is not allowed on ${ctx.path}; use ${route.method}`);
  ctx.route = route;
  if (!route.hasBody) return;

  const declared = Number(ctx.req.headers['content-length'] ?? NaN);
  if (declared > options.maxBodyBytes) throw new WardenError('WARDEN_GATEWAY_BODY_TOO_LARGE', `request body exceeds ${options.maxBodyBytes} bytes`);
  ctx.body = await readBody(ctx, options.maxBodyBytes);
}

/**
 * Stage after authentication: parse the JSON body (depth-limited) and take the model from it.
 * Anonymous callers never reach it, so they learn nothing of the schema and cannot make the
 * gateway parse megabytes of JSON.
 */
export function parseBody(ctx: RequestContext, options: ReceiveOptions): void {
  const body = ctx.body;
  if (!ctx.route?.hasBody || body === null) return;
  const text = body.toString('utf8');
  const scan = scanJson(text, options.maxJsonDepth);
  if (scan.tooDeep) throw new WardenError('WARDEN_GATEWAY_BAD_JSON', `JSON nesting deeper than ${options.maxJsonDepth}`);
  if (scan.duplicateKey !== null) {
    throw new WardenError('WARDEN_GATEWAY_BAD_JSON', `key ${JSON.stringify(scan.duplicateKey.slice(0, 64))} appears twice in one object; model servers could read the other value`);
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
    if (typeof model !== 'string' || model.length === 0 || model.length > 128) {
      throw new WardenError('WARDEN_INPUT_INVALID', 'field "model" is required and must be a non-empty string of at most 128 characters');
    }
    route.model = model;
  }
}
