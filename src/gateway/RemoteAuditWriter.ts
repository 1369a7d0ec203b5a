import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { controlPlaneTls } from '../identity/controlPlaneIdentity.js';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { serializeRecord, type AuditRecord } from '../audit/index.js';
import type { Logger } from '../observe/index.js';
import type { AuditWriter } from './AuditWriter.js';

const SPOOL_MAX_RECORD_BYTES = 1024 * 1024;

interface Pending {
  record: AuditRecord;
  resolve: () => void;
}

/**
 * A remote gateway's audit log: records leave the request path through a bounded queue and are
 * shipped in batches to the control plane, which acknowledges once they are durable in its Merkle
 * log. Failed batches are retried (at-least-once) so nothing acknowledged-to-the-caller is lost;
 * when the queue is full, `append` waits (backpressure) instead of dropping. At shutdown, records
 * the control plane cannot take within `closeTimeoutMs` are spooled to disk (JSON lines, 0600,
 * fsync'd) and shipped first on the next start, so none is lost while the control plane is down.
 */
export class RemoteAuditWriter implements AuditWriter {
  private queue: Pending[] = [];
  private waiters: (() => void)[] = [];
  private sending: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly agent: Agent;
  private closed = false;
  /** Past the close deadline: batches go to the spool instead of the network. */
  private spilling = false;
  private closeDeadline = Infinity;

  constructor(
    private readonly o: {
      url: string;
      token: string;
      caPem?: string;
      pep: string;
      logger: Logger;
      batchSize?: number;
      flushIntervalMs?: number;
      queueLimit?: number;
      /** Directory for records that could not be delivered at shutdown; none = they are lost (logged). */
      spoolDir?: string;
      closeTimeoutMs?: number;
    },
  ) {
    this.agent = new Agent({ connect: controlPlaneTls(o.caPem) });
  }

  get queueDepth(): number {
    return this.queue.length;
  }

  async append(record: AuditRecord): Promise<void> {
    while (this.queue.length >= (this.o.queueLimit ?? 65_536)) await new Promise<void>((r) => this.waiters.push(r));
    return new Promise<void>((resolve) => {
      this.queue.push({ record, resolve });
      if (this.queue.length >= (this.o.batchSize ?? 500)) void this.flush();
      else this.timer ??= setTimeout(() => void this.flush(), this.o.flushIntervalMs ?? 50);
    });
  }

  async flush(): Promise<void> {
    if (this.sending) await this.sending;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.o.batchSize ?? 500);
    this.sending = this.send(batch).finally(() => {
      this.sending = null;
    });
    await this.sending;
    for (const w of this.waiters.splice(0)) w();
    if (this.queue.length > 0) await this.flush();
  }

  private get spoolFile(): string | null {
    return this.o.spoolDir ? join(this.o.spoolDir, `${this.o.pep.replace(/[^A-Za-z0-9._-]/g, '_')}.spool.jsonl`) : null;
  }

  /** Appends undelivered records to the spool (fsync'd) and counts them as handled. */
  private spill(batch: Pending[]): void {
    const file = this.spoolFile;
    if (!file) {
      this.o.logger.error({ records: batch.length }, 'audit records lost: the control plane is unreachable at shutdown and no spool directory is set');
    } else {
      mkdirSync(this.o.spoolDir!, { recursive: true, mode: 0o700 });
      const fd = openSync(file, 'a', 0o600);
      try {
        // The same canonical, credential-redacted form the control plane would store; a record it
        // would refuse anyway (invalid, oversized) is counted, not written.
        const lines: string[] = [];
        for (const p of batch) {
          try {
            lines.push(serializeRecord(p.record, SPOOL_MAX_RECORD_BYTES));
          } catch {
            this.o.logger.error('an invalid audit record could not be spooled');
          }
        }
        writeSync(fd, lines.join('\n') + '\n');
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      this.o.logger.error({ records: batch.length, file }, 'control plane unreachable at shutdown: audit records spooled, shipped on the next start');
    }
    for (const p of batch) p.resolve();
  }

  /**
   * Ships what an earlier run spooled, before new records. The file is renamed first so records
   * spooled again by this run are kept apart; it is deleted once the control plane has them.
   */
  async replaySpool(): Promise<number> {
    const file = this.spoolFile;
    if (!file) return 0;
    const replaying = `${file}.replaying`;
    if (existsSync(file) && !existsSync(replaying)) renameSync(file, replaying);
    if (!existsSync(replaying)) return 0;
    const records = readFileSync(replaying, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as AuditRecord);
    await Promise.all(records.map((r) => this.append(r)));
    await this.flush();
    unlinkSync(replaying);
    this.o.logger.info({ records: records.length }, 'spooled audit records delivered');
    return records.length;
  }

  private async send(batch: Pending[]): Promise<void> {
    let delay = 100;
    for (;;) {
      if (this.spilling) {
        this.spill(batch);
        return;
      }
      try {
        const res = await request(`${this.o.url}/api/v1/pep/audit`, {
          method: 'POST',
          dispatcher: this.agent,
          headers: { authorization: `Bearer ${this.o.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ pep: this.o.pep, records: batch.map((p) => p.record) }),
        });
        const text = await res.body.text();
        if (res.statusCode === 200) {
          for (const p of batch) p.resolve();
          return;
        }
        if (res.statusCode >= 400 && res.statusCode < 500 && res.statusCode !== 429) {
          // The control plane refused the batch as invalid: retrying cannot help. Say so loudly.
          this.o.logger.error({ status: res.statusCode, body: text.slice(0, 200), records: batch.length }, 'audit batch refused by the control plane');
          for (const p of batch) p.resolve();
          return;
        }
      } catch (err) {
        this.o.logger.warn({ err: (err as Error).message, records: batch.length }, 'audit batch not delivered; retrying');
      }
      if (this.closed && Date.now() + delay > this.closeDeadline) {
        this.spilling = true;
        continue;
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10_000);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.closeDeadline = Date.now() + (this.o.closeTimeoutMs ?? 10_000);
    await this.flush();
    await this.agent.close();
  }
}
