import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { errors as undiciErrors, util as undiciUtil, type Dispatcher } from 'undici';
import { WardenError } from '../../errors/index.js';
import type { UpstreamCall } from './UpstreamCall.js';

/** What undici's own body stream holds before it pauses the connection (its highWaterMark). */
const HIGH_WATER_MARK = 64 * 1024;

const ignore = (): void => undefined;

/**
 * One attempt of an upstream call, as undici's dispatch handler. The common answer, JSON the
 * gateway reads whole to inspect, is collected into an array of chunks (`readAll`): no body
 * stream, no listeners, no promise per chunk (undici's `request` and reading its stream cost
 * ~7 % of gateway CPU). An answer passed on as it comes (SSE, other content types) is read
 * through `stream()`, fed with backpressure like undici's own body stream. Until the gateway
 * chose (it needs the headers to), chunks are held as that stream would hold them: the
 * connection pauses past HIGH_WATER_MARK.
 */
export class UpstreamAnswer implements Dispatcher.DispatchHandlers {
  statusCode = 0;
  headers: IncomingHttpHeaders = {};
  /** Settles with this answer once its headers arrived, or with the reason the attempt failed. */
  readonly arrived: Promise<UpstreamAnswer>;
  private arrive!: (answer: UpstreamAnswer) => void;
  private arrivalFailed!: (err: Error) => void;
  /**
   * The error undici reported for the upstream's side of this attempt (its connection failed or
   * closed, its answer broke off or fell silent past bodyTimeout); null while there was none, and
   * when the gateway ended the attempt itself (its reason, a refusal, giving up on the answer).
   */
  upstreamError: Error | null = null;
  private headed = false;
  private complete = false;
  private failure: Error | null = null;
  private abortUpstream: ((err?: Error) => void) | null = null;
  private resumeUpstream: (() => void) | null = null;
  private chunks: Buffer[] = [];
  private size = 0;
  /** Set while a `readAll` waits for the rest of the answer. */
  private readLimit = 0;
  private readDone: ((whole: Buffer) => void) | null = null;
  private readFailed: ((err: Error) => void) | null = null;
  private body: Readable | null = null;

  constructor(private readonly call: UpstreamCall) {
    this.arrived = new Promise<UpstreamAnswer>((resolve, reject) => {
      this.arrive = resolve;
      this.arrivalFailed = reject;
    });
  }

  /**
   * The whole answer, up to `limit` bytes; a larger one is refused (WARDEN_GATEWAY_UPSTREAM_UNINSPECTABLE)
   * and the request dropped.
   */
  readAll(limit: number): Promise<Buffer> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.size > limit) return Promise.reject(this.refuseLarger(limit));
    if (this.complete) return Promise.resolve(this.whole());
    this.readLimit = limit;
    const whole = new Promise<Buffer>((resolve, reject) => {
      this.readDone = resolve;
      this.readFailed = reject;
    });
    this.resumeUpstream?.();
    return whole;
  }

  /** The answer as it comes, for passing it on: reading it resumes the connection. */
  stream(): Readable {
    const body = new Readable({
      highWaterMark: HIGH_WATER_MARK,
      read: () => this.resumeUpstream?.(),
      // Given up before the end (a guard refused a chunk, the client left): the request is dropped.
      destroy: (err, callback) => {
        if (!this.complete) this.stop(err ?? new undiciErrors.RequestAbortedError());
        callback(err);
      },
    });
    // Errors reach the reader through its iterator; one that comes when nobody reads is not fatal.
    body.on('error', ignore);
    this.body = body;
    for (const chunk of this.chunks) body.push(chunk);
    this.chunks = [];
    if (this.failure !== null) body.destroy(this.failure);
    else if (this.complete) body.push(null);
    return body;
  }

  /** Drops an answer nobody will read (the request too, unless the answer is complete). */
  discard(): void {
    this.chunks = [];
    if (this.body !== null) {
      if (!this.body.destroyed) this.body.destroy();
    } else if (!this.complete) this.stop(new undiciErrors.RequestAbortedError());
  }

  /**
   * Ends the attempt with `reason` (the call was aborted, or the gateway gave up on the answer):
   * whoever waits for it gets `reason`, and undici drops the request (right away, or as soon as
   * it gets a connection).
   */
  stop(reason: Error): void {
    if (this.failure !== null) return;
    if (this.complete) {
      // All received, maybe not all passed on yet: the reader stops too.
      if (this.body !== null && !this.body.destroyed) this.body.destroy(reason);
      return;
    }
    this.fail(reason);
    if (this.body !== null && !this.body.destroyed) this.body.destroy(reason);
    // undici reports the abort back through onError, which finds the attempt failed already.
    this.abortUpstream?.(reason);
  }

  onConnect(abort: (err?: Error) => void): void {
    // undici calls this right before it writes the request on its socket.
    this.call.sent = true;
    if (this.failure !== null) abort(this.failure);
    else this.abortUpstream = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // Informational answers (100 Continue) precede the real one.
    if (statusCode < 200) return true;
    this.statusCode = statusCode;
    this.headers = undiciUtil.parseHeaders(rawHeaders) as IncomingHttpHeaders;
    this.resumeUpstream = resume;
    this.headed = true;
    this.arrive(this);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.body !== null) return this.body.push(chunk);
    this.size += chunk.length;
    if (this.readDone !== null) {
      if (this.size > this.readLimit) {
        this.refuseLarger(this.readLimit);
        return false;
      }
      this.chunks.push(chunk);
      return true;
    }
    this.chunks.push(chunk);
    return this.size < HIGH_WATER_MARK;
  }

  onComplete(): void {
    this.complete = true;
    if (this.readDone !== null) {
      const done = this.readDone;
      this.readDone = this.readFailed = null;
      done(this.whole());
    } else this.body?.push(null);
  }

  onError(err: Error): void {
    // Failed already: the gateway stopped the attempt, and undici reports that abort back.
    if (this.failure !== null) return;
    this.upstreamError = err;
    this.fail(err);
    const body = this.body;
    // A microtask later, as undici's `request` destroys its body stream.
    if (body !== null) queueMicrotask(() => body.destroy(err));
  }

  private fail(err: Error): void {
    this.failure = err;
    this.chunks = [];
    if (!this.headed) this.arrivalFailed(err);
    else if (this.readFailed !== null) {
      const failed = this.readFailed;
      this.readDone = this.readFailed = null;
      failed(err);
    }
  }

  private whole(): Buffer {
    const chunks = this.chunks;
    this.chunks = [];
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.size);
  }

  private refuseLarger(limit: number): WardenError {
    const err = new WardenError('WARDEN_GATEWAY_UPSTREAM_UNINSPECTABLE', `the model server answer is larger than the ${limit} bytes the output guards read; it is withheld`);
    this.stop(err);
    return err;
  }
}
