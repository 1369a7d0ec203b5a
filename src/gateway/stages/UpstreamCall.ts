import { EventEmitter } from 'node:events';
import { WardenError } from '../../errors/index.js';
import type { Upstream } from '../UpstreamPool.js';

/**
 * Abort signal of one upstream call, fired when the client goes away or one of the gateway's
 * deadlines passes; `reason` says which, and undici rejects the call (or destroys its answer's
 * body) with it. undici accepts an EventEmitter with `aborted` and `reason`; an AbortController
 * (an EventTarget) cost ~3% of gateway CPU. Deadlines are plain timers, armed once per phase.
 */
export class UpstreamCall extends EventEmitter {
  aborted = false;
  reason: WardenError | undefined = undefined;
  /** Set when the headers deadline passed while this request waited for a free pool connection. */
  poolBusy = false;
  /** Set once undici gave this request a connection and sends it (UpstreamHttpPool notes it). */
  sent = false;
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
    this.emit('abort');
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

  /**
   * `pending`, or this call's abort reason as soon as it fires: undici keeps an aborted request in
   * its pool queue until a connection frees up, and only then rejects it. An answer that still
   * comes after the abort is discarded with `discard`.
   */
  race<T>(pending: Promise<T>, discard: (value: T) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(this.reason);
      if (this.aborted) onAbort();
      else this.once('abort', onAbort);
      pending.then(
        (value) => {
          this.off('abort', onAbort);
          if (this.aborted) discard(value);
          else resolve(value);
        },
        (err: unknown) => {
          this.off('abort', onAbort);
          reject(this.aborted ? this.reason : err);
        },
      );
    });
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
  call.abort(new WardenError('WARDEN_GATEWAY_UPSTREAM_TIMEOUT', `model server ${u.name} did not finish its answer within maxDurationMs (${u.maxDurationMs} ms)`));
}
