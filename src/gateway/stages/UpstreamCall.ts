import { EventEmitter } from 'node:events';
import type { Dispatcher } from 'undici';
import { WardenError } from '../../errors/index.js';
import type { Upstream } from '../UpstreamPool.js';
import { UpstreamAnswer } from './UpstreamAnswer.js';

/**
 * One upstream call (its attempts, its deadlines), aborted when the client goes away or one of
 * the gateway's deadlines passes; `reason` says which, and the current attempt fails with it.
 * 'abort' is emitted for those waiting on the client meanwhile. Deadlines are plain timers,
 * armed once per phase.
 */
export class UpstreamCall extends EventEmitter {
  aborted = false;
  reason: WardenError | undefined = undefined;
  /** Set when the headers deadline passed while this request waited for a free pool connection. */
  poolBusy = false;
  /** The gateway waits for the client to take what it was sent (its buffer is full). */
  awaitingClient = false;
  /** maxDurationMs passed while the client held the answer back: the client's pace, not the upstream's failure. */
  outlastedBySlowClient = false;
  /** Set once undici gave this request a connection and sends it (UpstreamAnswer notes it). */
  sent = false;
  private attempt: UpstreamAnswer | null = null;
  private timer: NodeJS.Timeout | undefined = undefined;
  private readonly started = Date.now();

  constructor(readonly upstream: Upstream) {
    super();
  }

  abort(reason: WardenError): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.clearDeadline();
    this.attempt?.stop(reason);
    this.emit('abort');
  }

  /**
   * Sends the request through the upstream's pool: its answer once the headers arrived, or the
   * reason the attempt failed (this call's abort reason as soon as it fires, even while the
   * request still waits in the pool's queue for a connection).
   */
  send(options: Dispatcher.DispatchOptions): Promise<UpstreamAnswer> {
    if (this.aborted) return Promise.reject(this.reason);
    const answer = new UpstreamAnswer(this);
    this.attempt = answer;
    this.upstream.pool.dispatch(options, answer);
    return answer.arrived;
  }

  /** The client went away. */
  clientClosed(): void {
    this.abort(new WardenError('WARDEN_GATEWAY_CLIENT_CLOSED'));
  }

  /** The client read nothing of the answer for the upstream's timeoutMs. */
  clientStalled(): void {
    this.abort(new WardenError('WARDEN_GATEWAY_CLIENT_STALLED', `the client read nothing of the answer for ${this.upstream.timeoutMs} ms; it was cut off`));
  }

  /**
   * Until response headers: the upstream's timeoutMs from the start of the call, covering the time
   * queued for a pool connection and any retries (undici's own timers start only once a connection
   * is assigned).
   */
  armHeadersDeadline(): void {
    this.arm(this.upstream.timeoutMs, onHeadersDeadline);
  }

  /** Once headers arrived: what is left of maxDurationMs for the answer (no timer without a cap). */
  armTotalDeadline(): void {
    this.clearDeadline();
    const max = this.upstream.maxDurationMs;
    if (max !== null) this.arm(Math.max(0, this.started + max - Date.now()), onTotalDeadline);
  }

  clearDeadline(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number, fire: (call: UpstreamCall) => void): void {
    this.clearDeadline();
    if (this.aborted) return;
    this.timer = setTimeout(fire, ms, this);
    // A deadline never keeps the process alive on its own (the call is cleared when it ends anyway).
    this.timer.unref();
  }
}

function onHeadersDeadline(call: UpstreamCall): void {
  const u = call.upstream;
  // This request still waits while every connection serves another one (long streams, say): the
  // model server was never asked. Said in the message, and not held against the upstream's circuit.
  // Not the pool's queue: requests the silent server did get would see the others queued behind
  // them, and under load its failures would never count. Unsent with a connection free means
  // connecting (or a TLS handshake) that hangs, or a retry after a failed one: the server's doing.
  call.poolBusy = !call.sent && u.pool.stats.running >= u.connections;
  const busy = call.poolBusy ? ` (all ${u.connections} connections to it were busy)` : '';
  call.abort(new WardenError('WARDEN_GATEWAY_UPSTREAM_TIMEOUT', `model server ${u.name} did not answer within ${u.timeoutMs} ms${busy}`));
}

function onTotalDeadline(call: UpstreamCall): void {
  const u = call.upstream;
  // A client reading slowly (not slowly enough to count as stalled) can stretch any answer past
  // the cap; held against the upstream's circuit, a few such clients would open it for everyone.
  call.outlastedBySlowClient = call.awaitingClient;
  const why = call.outlastedBySlowClient ? `the answer of model server ${u.name} was not taken by the client within maxDurationMs` : `model server ${u.name} did not finish its answer within maxDurationMs`;
  call.abort(new WardenError('WARDEN_GATEWAY_UPSTREAM_TIMEOUT', `${why} (${u.maxDurationMs} ms)`));
}
