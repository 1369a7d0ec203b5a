import { WardenError } from '../../errors/index.js';
import type { RequestContext } from '../RequestContext.js';
import { allowedMethods, type RouteMatch } from './routes.js';

/** 405 with the methods the route does answer, for the `Allow` header RFC 9110 §15.5.6 requires. */
export class MethodNotAllowedError extends WardenError {
  /** Value of the `Allow` header, e.g. `GET, HEAD`. */
  readonly allow: string;
  /** A browser's CORS preflight: it never carries credentials (Fetch), so it is answered before authentication. */
  readonly preflight: boolean;

  constructor(message: string, allow: string, preflight = false) {
    super('WARDEN_GATEWAY_METHOD_NOT_ALLOWED', message);
    this.name = 'MethodNotAllowedError';
    this.allow = allow;
    this.preflight = preflight;
  }
}

/**
 * The 405 for a request whose route does not answer its method. A browser's CORS preflight is
 * named as such: the gateway sends no CORS headers (browsers are not its clients: an API key in a
 * web page is a key anyone can read), so it gets the same 405 with a message that says why.
 */
export function methodNotAllowed(ctx: Pick<RequestContext, 'method' | 'path' | 'req'>, route: RouteMatch): MethodNotAllowedError {
  const allow = allowedMethods(route);
  const preflight = ctx.method === 'OPTIONS' && ctx.req.headers.origin !== undefined && ctx.req.headers['access-control-request-method'] !== undefined;
  if (preflight) return new MethodNotAllowedError(`cross-origin (CORS) requests from browsers are not supported on ${ctx.path}; call the gateway from a server (or a same-origin proxy) with ${route.method}`, allow, true);
  return new MethodNotAllowedError(`${ctx.method} is not allowed on ${ctx.path}; use ${route.method}`, allow);
}
