import { Agent, request } from 'undici';
import type { AuditRecord } from '../audit/index.js';
import type { Logger } from '../observe/index.js';
import type { AuditWriter } from './AuditWriter.js';

interface Pending {
  record: AuditRecord;
  resolve: () => void;
}

/**
 * A remote gateway's audit log: records leave the request path through a bounded queue and are
 * shipped in batches to the control plane, which acknowledges once they are durable in its Merkle
 * log. Failed batches are retried (at-least-once) so nothing acknowledged-to-the-caller is lost;
 * when the queue is full, `append` waits (backpressure) instead of dropping.
 */
export class RemoteAuditWriter implements AuditWriter {
  private queue: Pending[] = [];
  private waiters: (() => void)[] = [];
  private sending: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly agent: Agent;
  private closed = false;

  constructor(
    private readonly o: { url: string; token: string; caPem?: string; pep: string; logger: Logger; batchSize?: number; flushIntervalMs?: number; queueLimit?: number },
  ) {
    this.agent = new Agent({ connect: { ca: o.caPem, minVersion: 'TLSv1.2' } });
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

  private async send(batch: Pending[]): Promise<void> {
    let delay = 100;
    for (;;) {
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
        if (this.closed && delay > 5000) throw err;
        this.o.logger.warn({ err: (err as Error).message, records: batch.length }, 'audit batch not delivered; retrying');
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10_000);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    await this.agent.close();
  }
}
