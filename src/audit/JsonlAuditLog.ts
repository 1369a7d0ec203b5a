import { open, type FileHandle } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AuditLog } from './AuditLog.js';
import { canonicalJson, type AuditRecord } from './AuditRecord.js';

interface Pending {
  line: string;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/**
 * Walking-skeleton audit log: canonical JSON lines appended in batches, fsynced per batch.
 * Bounded queue: when full, append() waits for room instead of dropping.
 */
export class JsonlAuditLog implements AuditLog {
  private queue: Pending[] = [];
  private waiters: (() => void)[] = [];
  private flushing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(
    private readonly fh: FileHandle,
    private readonly options: { batchSize: number; flushIntervalMs: number; queueLimit: number; fsync: boolean },
  ) {}

  static async open(path: string, options: Partial<{ batchSize: number; flushIntervalMs: number; queueLimit: number; fsync: boolean }> = {}): Promise<JsonlAuditLog> {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const fh = await open(path, 'a', 0o600);
    return new JsonlAuditLog(fh, { batchSize: 512, flushIntervalMs: 20, queueLimit: 65_536, fsync: true, ...options });
  }

  get queueDepth(): number {
    return this.queue.length;
  }

  async append(record: AuditRecord): Promise<void> {
    if (this.closed) throw new Error('audit log is closed');
    while (this.queue.length >= this.options.queueLimit) {
      await new Promise<void>((r) => this.waiters.push(r));
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ line: canonicalJson(record) + '\n', resolve, reject });
      if (this.queue.length >= this.options.batchSize) void this.flush();
      else this.timer ??= setTimeout(() => void this.flush(), this.options.flushIntervalMs);
    });
  }

  async flush(): Promise<void> {
    if (this.flushing) await this.flushing;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    for (const w of this.waiters.splice(0)) w();
    this.flushing = (async () => {
      try {
        await this.fh.write(batch.map((p) => p.line).join(''));
        if (this.options.fsync) await this.fh.datasync();
        for (const p of batch) p.resolve();
      } catch (e) {
        for (const p of batch) p.reject(e);
      } finally {
        this.flushing = null;
      }
    })();
    await this.flushing;
    if (this.queue.length > 0) await this.flush();
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    await this.fh.close();
  }
}
