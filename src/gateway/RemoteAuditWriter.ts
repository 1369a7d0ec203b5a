import { randomUUID } from 'node:crypto';
import { Agent, request } from 'undici';
import { serializeRecord, validateRecord, type AuditRecord } from '../audit/index.js';
import { WardenError } from '../errors/index.js';
import { controlPlaneConnect, type ControlPlaneRoots } from '../identity/controlPlaneIdentity.js';
import type { Logger } from '../observe/index.js';
import { AuditSpool, spoolLines, type Rejection } from './AuditSpool.js';
import type { AuditWriter } from './AuditWriter.js';

export interface RemoteAuditWriterOptions {
  url: string;
  token: string;
  caPem?: ControlPlaneRoots;
  pep: string;
  logger: Logger;
  batchSize?: number;
  flushIntervalMs?: number;
  /** Records held in memory; past it they are spooled, and refused once the spool is full too. */
  queueLimit?: number;
  /** Directory for records the control plane has not taken yet; none = they wait in memory only. */
  spoolDir?: string;
  /** Bytes of spool (and dead-letter) files this gateway may keep (default 1 GiB). */
  spoolMaxBytes?: number;
  /** A spool file is closed for appends past this size, so a replay reads a bounded file (default 16 MiB). */
  spoolFileMaxBytes?: number;
  /** close() ends within this long; what is undelivered by then is spooled (default 10 s). */
  closeTimeoutMs?: number;
  /** Per request: the control plane must answer (headers) and send its body within these (default 5 s each). */
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  /** Backoff between attempts while the control plane is unreachable: doubling from base, capped, jittered. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Larger records are refused at append, as the local log does (default 64 KiB). */
  maxRecordBytes?: number;
}

interface Pending {
  /** Canonical, credential-redacted JSON: what is sent, spooled and stored. */
  json: string;
  /** Append order; a spool file is named after its first record's, so files replay in append order. */
  seq: number;
  resolve: () => void;
}

type SendResult = { outcome: 'delivered' } | { outcome: 'rejected'; status: number; code: string | null } | { outcome: 'retry' };

/**
 * A remote gateway's audit log: records leave the request path through a bounded queue and are
 * shipped in batches, one POST at a time and in order, to the control plane, which answers once
 * they are durable in its Merkle log. `append` resolves once its record is durable: delivered, or
 * written to the local spool (JSON lines, 0600, fsync'd) after a failed send. The spool is
 * replayed, oldest file first, before newer records; each batch carries an id (the
 * `idempotency-key` header) so the control plane stores a retried batch once. Memory and disk are
 * bounded; when both are full, `append` rejects (fail closed) rather than losing records quietly.
 */
export class RemoteAuditWriter implements AuditWriter {
  private readonly queue: Pending[] = [];
  /** The head batch once it has been sent: retried with the same id and the same records. */
  private headBatch: { id: string; count: number } | null = null;
  /** Records at the queue head that are in the POST in flight (never spooled from under it). */
  private inflight = 0;
  private nextSeq = 0;
  private timer: NodeJS.Timeout | null = null;
  private pumping: Promise<void> | null = null;
  private abort: AbortController | null = null;
  private wakeSleeper: (() => void) | null = null;
  private flushWaiters: { seq: number; resolve: () => void }[] = [];
  private backlogWaiters: (() => void)[] = [];
  private closed = false;
  private closing = false;
  private pastDeadline = false;
  private closeDone: Promise<void> | null = null;
  private readonly agent: Agent;

  /** Null when no spool directory is set: undelivered records wait in memory only. */
  private readonly spool: AuditSpool | null;
  /** Batches of a spool file already delivered in this run (a failed replay resumes there). */
  private readonly replayProgress = new Map<string, number>();
  private replayedRecords = 0;
  private spooling = false;
  private refusing = false;

  constructor(private readonly o: RemoteAuditWriterOptions) {
    this.agent = new Agent({ connect: controlPlaneConnect(o.caPem) });
    this.spool = o.spoolDir ? new AuditSpool({ dir: o.spoolDir, pep: o.pep, logger: o.logger, maxBytes: o.spoolMaxBytes, fileMaxBytes: o.spoolFileMaxBytes, batchSize: this.batchSize }) : null;
    this.spooling = Boolean(this.spool?.oldestFile());
  }

  get queueDepth(): number {
    return this.queue.length;
  }

  /** Bytes of spool and dead-letter files this writer holds (0 without a spool directory). */
  get spoolBytes(): number {
    return this.spool?.bytes ?? 0;
  }

  /**
   * True while appends are refused because the queue and the spool are both full (fail closed).
   * Read live: once the queue drains it is false without waiting for another append, or a gateway
   * taken out of rotation (its /readyz follows this) would never get one.
   */
  get failingClosed(): boolean {
    return this.refusing && this.queue.length >= this.queueLimit;
  }

  append(record: AuditRecord): Promise<void> {
    if (this.closed) return Promise.reject(new WardenError('WARDEN_AUDIT_CLOSED'));
    let json: string;
    try {
      validateRecord(record);
      json = serializeRecord(record, this.o.maxRecordBytes ?? 65_536);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    if (this.queue.length >= this.queueLimit) this.spillQueue(this.inflight);
    if (this.queue.length >= this.queueLimit) {
      this.setRefusing(true);
      return Promise.reject(new WardenError('WARDEN_AUDIT_WRITE_FAILED', 'the audit queue and spool are full (control plane unreachable): record refused, failing closed'));
    }
    this.setRefusing(false);
    return new Promise<void>((resolve) => {
      this.queue.push({ json, seq: this.nextSeq++, resolve });
      if (this.queue.length >= this.batchSize) this.onFlushTimer();
      else this.timer ??= setTimeout(() => this.onFlushTimer(), this.o.flushIntervalMs ?? 50);
    });
  }

  /** Resolves once every record appended so far is durable (delivered or spooled). */
  async flush(): Promise<void> {
    const last = this.queue.at(-1);
    if (!last) return;
    const done = new Promise<void>((resolve) => this.flushWaiters.push({ seq: last.seq, resolve }));
    this.onFlushTimer();
    await done;
  }

  /** Delivers what earlier runs (or this one) spooled; resolves with the number of records replayed, once the spool is empty or the writer closes. */
  async replaySpool(): Promise<number> {
    const before = this.replayedRecords;
    if (this.spool?.oldestFile() && !this.closing) {
      const drained = new Promise<void>((resolve) => this.backlogWaiters.push(resolve));
      this.kick();
      await drained;
    }
    return this.replayedRecords - before;
  }

  /**
   * Stops taking records and makes the queued ones durable within `timeoutMs`: delivered if the
   * control plane answers in time, otherwise (the POST in flight is aborted at the deadline) spooled.
   */
  close(timeoutMs = this.o.closeTimeoutMs ?? 10_000): Promise<void> {
    this.closeDone ??= this.shutdown(timeoutMs);
    return this.closeDone;
  }

  private get batchSize(): number {
    return this.o.batchSize ?? 500;
  }

  private get queueLimit(): number {
    return this.o.queueLimit ?? 65_536;
  }

  private onFlushTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    // Older records wait in the spool: newer ones join them there, so delivery stays in order.
    if (this.spooling) this.spillQueue(this.inflight);
    this.kick();
  }

  /** Starts the single sender unless it runs: one POST in flight at a time. */
  private kick(): void {
    if (this.pumping || this.closing) return;
    this.pumping = this.pump().finally(() => {
      this.pumping = null;
      if (this.queue.length > 0) this.kick(); // appended while the sender was returning
    });
  }

  private async pump(): Promise<void> {
    let failures = 0;
    while (!this.closing) {
      const spool = this.spool;
      // `spooling` says whether spool files may exist (set at start and when records are spilled),
      // so the directory is listed only then, not once per delivered batch.
      const file = this.spooling ? spool?.oldestFile() : null;
      if (!file) this.backlogDrained();
      const ok = spool && file ? await this.replayFile(spool, file) : this.queue.length > 0 ? await this.deliverHeadBatch() : null;
      if (ok === null) return;
      if (ok) failures = 0;
      else if (!this.closing) await this.sleep(this.backoffMs(++failures));
    }
  }

  private backoffMs(failures: number): number {
    const capped = Math.min(this.o.retryMaxMs ?? 10_000, (this.o.retryBaseMs ?? 200) * 2 ** Math.min(failures - 1, 20));
    // Jitter: gateways that lost the control plane together do not all come back at the same instant.
    return capped / 2 + (Math.random() * capped) / 2;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wakeSleeper = () => {
        clearTimeout(t);
        resolve();
      };
    }).finally(() => {
      this.wakeSleeper = null;
    });
  }

  /** Sends the head of the in-memory queue; on failure the queue goes to the spool. */
  private async deliverHeadBatch(): Promise<boolean> {
    const head = (this.headBatch ??= { id: randomUUID(), count: Math.min(this.batchSize, this.queue.length) });
    this.inflight = head.count;
    const records = this.queue.slice(0, head.count).map((p) => p.json);
    const result = await this.post(head.id, records);
    this.inflight = 0;
    if (result.outcome === 'delivered' || (result.outcome === 'rejected' && this.deadLetter(head.id, records, result))) {
      this.headBatch = null;
      this.settle(this.queue.splice(0, head.count));
      return true;
    }
    this.spillQueue(0);
    return false;
  }

  /** Replays one spool file batch by batch; removes it once every batch is delivered (or dead-lettered). */
  private async replayFile(spool: AuditSpool, path: string): Promise<boolean> {
    const reopen = spool.sealForReplay(path);
    const batches = spool.read(path);
    const start = this.replayProgress.get(path) ?? 0;
    let done = start;
    for (; done < batches.length; done++) {
      if (this.closing) break;
      const batch = batches[done]!;
      const result = await this.post(batch.id, batch.records);
      if (result.outcome === 'retry' || (result.outcome === 'rejected' && !this.deadLetter(batch.id, batch.records, result))) break;
      this.replayedRecords += batch.records.length;
    }
    if (done < batches.length) {
      this.replayProgress.set(path, done);
      // Nothing delivered: keep appending to it, rather than one new file per retry during an outage.
      if (done === start) reopen();
      return false;
    }
    spool.removeDelivered(path);
    this.replayProgress.delete(path);
    this.o.logger.info({ file: path, records: batches.reduce((n, b) => n + b.records.length, 0) }, 'spooled audit records delivered');
    return true;
  }

  private async post(batchId: string, records: string[]): Promise<SendResult> {
    const abort = (this.abort = new AbortController());
    if (this.pastDeadline) abort.abort();
    try {
      const res = await request(`${this.o.url}/api/v1/pep/audit`, {
        method: 'POST',
        dispatcher: this.agent,
        signal: abort.signal,
        headersTimeout: this.o.headersTimeoutMs ?? 5000,
        bodyTimeout: this.o.bodyTimeoutMs ?? 5000,
        headers: { authorization: `Bearer ${this.o.token}`, 'content-type': 'application/json', 'idempotency-key': batchId },
        body: `{"pep":${JSON.stringify(this.o.pep)},"records":[${records.join(',')}]}`,
      });
      const text = await res.body.text();
      return this.classify(res.statusCode, text, records.length);
    } catch (err) {
      this.o.logger.warn({ err: (err as Error).message, records: records.length }, 'audit batch not delivered (control plane unreachable or too slow); will retry');
      return { outcome: 'retry' };
    } finally {
      this.abort = null;
    }
  }

  private classify(status: number, body: string, records: number): SendResult {
    if (status >= 200 && status < 300) return { outcome: 'delivered' };
    const code = errorCodeOf(body);
    // 400/422: the control plane refused these records as invalid; resending cannot help.
    if (status === 400 || status === 422) return { outcome: 'rejected', status, code };
    if (status === 401 || status === 403) {
      this.o.logger.error({ status, code, records }, 'audit batch refused: authentication problem (PEP token revoked, rotated or wrong?); records kept and retried');
    } else {
      this.o.logger.warn({ status, code, records }, 'audit batch not accepted; will retry');
    }
    return { outcome: 'retry' };
  }

  /** Keeps records the control plane refused as invalid next to the spool, for an operator; false when there is no room. */
  private deadLetter(batchId: string, records: string[], result: Rejection): boolean {
    if (this.spool) return this.spool.deadLetter(batchId, records, result);
    this.o.logger.error({ status: result.status, code: result.code, records: records.length }, 'audit batch refused by the control plane as invalid and no spool directory is set: records kept and retried');
    return false;
  }

  /**
   * Writes queued records from `from` on to the spool, whole batches while they fit under the
   * cap, and resolves their appends. The head batch keeps its id, so a replay is deduplicated.
   */
  private spillQueue(from: number): void {
    const spool = this.spool;
    if (!spool || from >= this.queue.length) return;
    let text = '';
    let textBytes = 0;
    let taken = from;
    while (taken < this.queue.length) {
      const sentBefore = taken === 0 && this.headBatch;
      const count = sentBefore ? this.headBatch!.count : Math.min(this.batchSize, this.queue.length - taken);
      const id = sentBefore ? this.headBatch!.id : randomUUID();
      const chunk = spoolLines(id, this.queue.slice(taken, taken + count).map((p) => p.json));
      const chunkBytes = Buffer.byteLength(chunk);
      if (!spool.fits(textBytes + chunkBytes)) break;
      text += chunk;
      textBytes += chunkBytes;
      taken += count;
    }
    if (taken > from && spool.append(this.queue[from]!.seq, this.queue[taken - 1]!.seq, text)) {
      if (from === 0) this.headBatch = null;
      if (!this.spooling) this.o.logger.warn({ records: taken - from, dir: spool.dir }, 'audit records spooled to disk until the control plane takes them');
      this.spooling = true;
      this.settle(this.queue.splice(from, taken - from));
    }
    if (taken < this.queue.length) spool.reportFull(this.queue.length);
  }

  private backlogDrained(): void {
    if (this.spooling) this.o.logger.info('audit spool drained: records go straight to the control plane again');
    this.spooling = false;
    for (const w of this.backlogWaiters.splice(0)) w();
  }

  /** Resolves appends that are durable now, and flush() calls waiting for them. */
  private settle(done: Pending[]): void {
    for (const p of done) p.resolve();
    if (this.refusing && this.queue.length < this.queueLimit) this.setRefusing(false);
    const oldestQueued = this.queue[0]?.seq ?? Infinity;
    this.flushWaiters = this.flushWaiters.filter((w) => (w.seq < oldestQueued ? (w.resolve(), false) : true));
  }

  private setRefusing(refusing: boolean): void {
    if (refusing === this.refusing) return;
    this.refusing = refusing;
    if (refusing) this.o.logger.error({ queued: this.queue.length, spoolBytes: this.spool?.bytes ?? 0 }, 'audit queue and spool full: refusing new audit records (fail closed)');
    else this.o.logger.warn('audit queue has room again: accepting audit records');
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    this.closed = true;
    this.closing = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const deadline = setTimeout(() => {
      this.pastDeadline = true;
      this.abort?.abort();
      this.wakeSleeper?.();
    }, timeoutMs);
    this.wakeSleeper?.();
    await this.pumping; // its POST in flight ends by the deadline at the latest
    // Queued records go to the control plane while it answers in time, unless older ones wait in
    // the spool; a failed send spools them (with no room there, they are retried until the deadline).
    for (let failures = 0; !this.pastDeadline && this.queue.length > 0 && !this.spooling; ) {
      if (!(await this.deliverHeadBatch()) && this.queue.length > 0) await this.sleep(this.backoffMs(++failures));
    }
    this.spillQueue(0);
    clearTimeout(deadline);
    if (this.queue.length > 0) {
      // Said loudly; the appends still resolve, as before: their callers are shutting down too.
      this.o.logger.error({ records: this.queue.length }, 'audit records lost at shutdown: the control plane did not take them in time and the spool is full or not configured');
      this.settle(this.queue.splice(0));
    }
    for (const w of this.backlogWaiters.splice(0)) w();
    await this.agent.destroy();
  }
}

/** The WARDEN_… code of an error answer, if any (never the message or the body: a proxy may echo anything). */
function errorCodeOf(body: string): string | null {
  try {
    const code = (JSON.parse(body) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' && /^[A-Z0-9_]{1,80}$/.test(code) ? code : null;
  } catch {
    return null;
  }
}
