import { Pool, type Dispatcher } from 'undici';
import { UpstreamCall } from './stages/UpstreamCall.js';

/**
 * The keep-alive pool to one model server. It notes on each gateway call (the request's `signal`)
 * when undici gives the request a connection: whether a call that timed out was still waiting for
 * one is a fact about that request, not about the pool's queue at that moment.
 */
export class UpstreamHttpPool extends Pool {
  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandlers): boolean {
    // undici's `request` dispatches its own options, signal included.
    const call = (options as Dispatcher.RequestOptions).signal;
    return super.dispatch(options, call instanceof UpstreamCall ? new ConnectionNoted(handler, call) : handler);
  }
}

/**
 * undici's request handler, with its connection noted on the call. Only the methods undici's
 * `request` handler has: undici calls the optional ones (onBodySent, onResponseStarted) whenever
 * they exist. A class rather than closures: one object per request on the hot path.
 */
class ConnectionNoted implements Dispatcher.DispatchHandlers {
  constructor(
    private readonly handler: Dispatcher.DispatchHandlers,
    private readonly call: UpstreamCall,
  ) {}

  onConnect(abort: (err?: Error) => void): void {
    // undici calls this right before it writes the request on its socket.
    this.call.sent = true;
    this.handler.onConnect!(abort);
  }

  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean {
    return this.handler.onHeaders!(statusCode, headers, resume, statusText);
  }

  onData(chunk: Buffer): boolean {
    return this.handler.onData!(chunk);
  }

  onComplete(trailers: string[] | null): void {
    this.handler.onComplete!(trailers);
  }

  onError(err: Error): void {
    this.handler.onError!(err);
  }
}
