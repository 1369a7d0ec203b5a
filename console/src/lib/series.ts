import type { AuditRecord } from '../api/types.js';

export interface Bucket {
  /** Bucket start, epoch ms. */
  t: number;
  requests: number;
  denials: number;
  detectorVerdicts: number;
  /** Mean gateway overhead of the bucket's requests, ms (null when there were none). */
  overheadMs: number | null;
}

/**
 * Gateway decisions (and detector alarms) per time bucket, computed from audit records (the admin API has no
 * time-series endpoint, and the audit log is the record of truth anyway).
 */
export function bucketDecisions(records: readonly AuditRecord[], options: { now: number; windowMs: number; bucketMs: number }): Bucket[] {
  const { now, windowMs, bucketMs } = options;
  const count = Math.ceil(windowMs / bucketMs);
  const start = Math.floor(now / bucketMs) * bucketMs - (count - 1) * bucketMs;
  const buckets: Bucket[] = Array.from({ length: count }, (_, i) => ({ t: start + i * bucketMs, requests: 0, denials: 0, detectorVerdicts: 0, overheadMs: null }));
  const overheadSum = new Array<number>(count).fill(0);
  const overheadN = new Array<number>(count).fill(0);
  for (const r of records) {
    const t = Date.parse(r.ts);
    if (!(t >= start) || t >= start + count * bucketMs) continue;
    const i = Math.floor((t - start) / bucketMs);
    const b = buckets[i]!;
    // Detector alarms arrive as their own records (detector.alarm.received) as well as inline verdicts.
    if (r.kind !== 'decision') {
      if (r.action.startsWith('detector.')) b.detectorVerdicts++;
      continue;
    }
    b.requests++;
    if (r.decision === 'deny') b.denials++;
    if (r.detectors && Object.keys(r.detectors).length > 0) b.detectorVerdicts++;
    if (typeof r.overheadMs === 'number' && Number.isFinite(r.overheadMs)) {
      overheadSum[i]! += r.overheadMs;
      overheadN[i]!++;
    }
  }
  buckets.forEach((b, i) => {
    if (overheadN[i]! > 0) b.overheadMs = overheadSum[i]! / overheadN[i]!;
  });
  return buckets;
}

export function totals(buckets: readonly Bucket[]): { requests: number; denials: number; detectorVerdicts: number; overheadMs: number | null } {
  let requests = 0;
  let denials = 0;
  let detectorVerdicts = 0;
  let sum = 0;
  let n = 0;
  for (const b of buckets) {
    requests += b.requests;
    denials += b.denials;
    detectorVerdicts += b.detectorVerdicts;
    if (b.overheadMs !== null) {
      sum += b.overheadMs * b.requests;
      n += b.requests;
    }
  }
  return { requests, denials, detectorVerdicts, overheadMs: n > 0 ? sum / n : null };
}
