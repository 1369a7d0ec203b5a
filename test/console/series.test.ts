import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketDecisions, totals } from '../../console/src/lib/series.js';
import type { AuditRecord } from '../../console/src/api/types.js';

const now = Date.parse('2026-01-01T12:30:30Z');
const at = (minAgo: number, extra: Partial<AuditRecord> = {}): AuditRecord => ({ ts: new Date(now - minAgo * 60_000).toISOString(), kind: 'decision', action: 'invoke', decision: 'allow', ...extra });

test('decisions are bucketed per minute; detector alarms count as verdicts; other records and records outside the window are ignored', () => {
  const records = [
    at(0, { overheadMs: 2 }),
    at(0, { decision: 'deny', overheadMs: 4 }),
    at(1, { detectors: { injection: { score: 0.9 } } }),
    at(1, { detectors: {} }),
    at(29),
    at(31),
    { ...at(0), kind: 'admin' as const },
    { ...at(2), kind: 'event' as const, action: 'detector.alarm.received', decision: undefined },
  ];
  const b = bucketDecisions(records, { now, windowMs: 30 * 60_000, bucketMs: 60_000 });
  assert.equal(b.length, 30);
  assert.equal(b[29]!.t, Date.parse('2026-01-01T12:30:00Z'));
  assert.deepEqual({ ...b[29]! }, { t: b[29]!.t, requests: 2, denials: 1, detectorVerdicts: 0, overheadMs: 3 });
  assert.equal(b[28]!.requests, 2);
  assert.equal(b[28]!.detectorVerdicts, 1);
  assert.equal(b[28]!.overheadMs, null);
  assert.equal(b[0]!.requests, 1);
  assert.equal(b[27]!.detectorVerdicts, 1);
  assert.equal(b[27]!.requests, 0);
  assert.deepEqual(totals(b), { requests: 5, denials: 1, detectorVerdicts: 2, overheadMs: 3 });
});
