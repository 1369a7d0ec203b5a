import type { GatewayResponse } from './RequestContext.js';

/**
 * Whether the client can no longer receive this answer (it disconnected or reset the stream).
 * HTTP/2's compat response has no `destroyed`, and its `writableFinished` reads the stream's, which
 * is true once the client reset it: only the stream itself tells. Read before the answer is ended.
 */
export function responseGone(res: GatewayResponse): boolean {
  if ('stream' in res) return res.stream.destroyed || res.stream.closed;
  return res.destroyed;
}
