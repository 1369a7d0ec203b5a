import type { AuditRecord } from './AuditRecord.js';

/**
 * Keeps a deterministic fraction of allowed decision records (an accumulator, not random,
 * so "rate 0.25" keeps exactly every fourth). Denies, admin actions and events are never
 * sampled. Skips are counted and reported through an `audit.sampled` event record.
 */
export class AllowedSampler {
  private acc = 0;
  private skippedSinceReport = 0;
  private reportSince: Date | null = null;
  private lastReport = 0;
  totalSkipped = 0;

  constructor(
    private readonly rate: number,
    private readonly actions: readonly string[],
  ) {}

  skip(record: AuditRecord): boolean {
    if (this.rate >= 1 || record.kind !== 'decision' || record.decision !== 'allow') return false;
    if (this.actions.length > 0 && !this.actions.includes(record.action)) return false;
    this.acc += this.rate;
    if (this.acc >= 1) {
      this.acc -= 1;
      return false;
    }
    this.skippedSinceReport++;
    this.totalSkipped++;
    this.reportSince ??= new Date();
    return true;
  }

  /** The `audit.sampled` record to write with the next batch, at most once per interval. */
  takeReport(now: Date, intervalMs: number): AuditRecord | null {
    if (this.skippedSinceReport === 0 || now.getTime() - this.lastReport < intervalMs) return null;
    const record: AuditRecord = {
      ts: now.toISOString(),
      kind: 'event',
      action: 'audit.sampled',
      details: { skipped: this.skippedSinceReport, since: (this.reportSince ?? now).toISOString(), rate: this.rate },
    };
    this.skippedSinceReport = 0;
    this.reportSince = null;
    this.lastReport = now.getTime();
    return record;
  }

  /** Puts a report back when its batch failed to write. */
  restore(report: AuditRecord): void {
    this.skippedSinceReport += Number((report.details as { skipped: number }).skipped);
    this.lastReport = 0;
  }
}
