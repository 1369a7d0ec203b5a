import type { AuditRecord } from './AuditRecord.js';
import type { AuditStore, PreparedEntry } from './storage/index.js';

/** The event that notes lost records; its own records are never counted as lost. */
export const WRITE_FAILED_ACTION = 'audit.write.failed';

/** Headroom needed to leave fail-closed, as a multiple of the largest batch that failed. */
const HEADROOM_BATCHES = 4;
/** Bytes a segment line adds to its JSON (index, tab, 64 hex digits, tab, newline). */
const LINE_OVERHEAD = 90;

/** Counts as `audit.write.failed` writes them into `details`. */
export interface LostCounts {
  /** Records of requests refused with `WARDEN_AUDIT_WRITE_FAILED` because the log was failing closed: nothing was served. */
  refused: number;
  /** Every other lost record: requests answered (served, or denied for another reason), admin changes, events. */
  served: number;
}

/**
 * What failed writes lost since the last `audit.write.failed` event, and how much free space
 * the store must show before the log may leave fail-closed. The two counts are kept apart so
 * the log itself tells a refusal (harmless) from a request that was answered without a record.
 */
export class LostRecords {
  private counts: LostCounts = { refused: 0, served: 0 };
  private since: string | null = null;
  private largestBatchBytes = 0;

  get total(): number {
    return this.counts.refused + this.counts.served;
  }

  /** Notes a batch whose write failed (`records`: those whose appends were rejected). */
  add(records: readonly AuditRecord[], prepared: readonly PreparedEntry[], now: Date): void {
    let bytes = 0;
    for (const e of prepared) bytes += e.json.length + LINE_OVERHEAD;
    this.largestBatchBytes = Math.max(this.largestBatchBytes, bytes);
    for (const r of records) {
      if (r.action === WRITE_FAILED_ACTION) continue;
      // The gateway records a fail-closed refusal with this code (pipeline servingRefusal).
      if (r.code === 'WARDEN_AUDIT_WRITE_FAILED') this.counts.refused++;
      else this.counts.served++;
    }
    if (this.total > 0) this.since ??= now.toISOString();
  }

  /** The counts a probe is about to note (subtract them with `settle` once it is durable). */
  snapshot(): LostCounts {
    return { ...this.counts };
  }

  /** The `audit.write.failed` event for `noted`. `recordsLost` keeps its meaning: the total. */
  event(noted: LostCounts, now: Date): AuditRecord {
    return {
      ts: now.toISOString(),
      kind: 'event',
      action: WRITE_FAILED_ACTION,
      resource: 'AuditLog::"local"',
      details: { recordsLost: noted.refused + noted.served, refusedLost: noted.refused, servedLost: noted.served, since: this.since },
    };
  }

  settle(noted: LostCounts): void {
    this.counts = { refused: this.counts.refused - noted.refused, served: this.counts.served - noted.served };
    if (this.total === 0) {
      this.since = null;
      this.largestBatchBytes = 0;
    }
  }

  /**
   * Whether the store has room for real traffic again. A probe record alone is no evidence: a
   * failed batch is truncated away, freeing a few KiB on a still-full disk where the ~200-byte
   * probe fits while the next batch of served requests would not. Stores that cannot tell
   * (a database) rest on the probe write alone. A statfs error counts as no room (fail closed).
   */
  async headroom(store: AuditStore, minFreeBytes: number): Promise<boolean> {
    if (!store.freeBytes) return true;
    const needed = Math.max(minFreeBytes, HEADROOM_BATCHES * this.largestBatchBytes);
    try {
      return (await store.freeBytes()) >= needed;
    } catch {
      return false;
    }
  }
}
