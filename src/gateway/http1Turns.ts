import type { Socket } from 'node:net';

/**
 * HTTP/1.1 requests a connection may have waiting behind the one being handled (pipelining).
 * Past this, requests are refused (WARDEN_GATEWAY_PIPELINE_LIMITED) and the connection is closed
 * after the answers before them.
 */
export const MAX_PIPELINED_REQUESTS = 32;

const kTurns = Symbol('warden.http1Turns');

/**
 * One HTTP/1.1 connection's requests take turns: node:http emits a request for everything the
 * client pipelined, and the gateway would otherwise run all of them at once (each reading its
 * body, each calling a model server) where HTTP/2 stops at 128 streams. Answers go out in request
 * order anyway, so running them one after the other costs the client nothing.
 *
 * The connection is not paused while requests wait: the client's end of it must still be seen (a
 * client that leaves aborts the model call of the running request). What waits stays small: a
 * waiting body nobody reads pauses the socket by itself once node:http has buffered 16 KiB of it,
 * and at most MAX_PIPELINED_REQUESTS wait.
 */
export class Http1Turns {
  /** A request of this connection is in the pipeline. */
  busy = false;
  /** Requests parsed while another one ran, in arrival order. */
  readonly waiting: Array<() => void> = [];
  /** Over the limit once: every later request is refused, the connection closes. */
  private refusing = false;

  constructor(private readonly socket: Socket) {}

  /** The turns of this request's connection (created with its first request). */
  static of(socket: Socket): Http1Turns {
    const s = socket as Socket & { [kTurns]?: Http1Turns };
    return (s[kTurns] ??= new Http1Turns(socket));
  }

  /**
   * Queues `start` behind the request running now. 'refuse': this request is the first over the
   * limit, to be answered with a refusal. 'discard': the connection is already refused; this
   * request is left unread and unanswered (the connection closes after the refusal), so a flood
   * behind the limit costs a parse, not a pipeline run and an audit record each.
   */
  wait(start: () => void): 'queued' | 'refuse' | 'discard' {
    if (this.refusing) {
      // Reading a waiting body resumes the socket: stop it again, nothing more is worth parsing.
      this.socket.pause();
      return 'discard';
    }
    if (this.waiting.length >= MAX_PIPELINED_REQUESTS) {
      this.refusing = true;
      this.socket.pause();
      return 'refuse';
    }
    this.waiting.push(start);
    return 'queued';
  }

  /** The running request is done: the next waiting one starts, or the turn is free. */
  done(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.busy = false;
  }
}
