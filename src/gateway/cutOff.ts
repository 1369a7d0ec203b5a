import type { GatewayResponse } from './RequestContext.js';

/**
 * Ends an answer that is already under way so the client cannot take it for complete. HTTP/2:
 * destroyed with an error, the stream is reset with INTERNAL_ERROR (a plain destroy() resets it
 * with NO_ERROR, which clients read as a clean end of a body of unknown length; the compat layer
 * swallows the stream's 'error'). HTTP/1.1: the connection closes mid-answer.
 */
export function cutOff(res: GatewayResponse, why: Error): void {
  if ('stream' in res) res.destroy(why);
  else res.destroy();
}
