import { z } from 'zod';
import { WardenError } from '../errors/index.js';
import { guardCodeFor, type Verdict } from './types.js';

/** Ends the request when a verdict says block: the gateway's guard stages call this. */
export function throwIfBlocked(verdicts: readonly Verdict[]): void {
  for (const v of verdicts) {
    if (v.action === 'block') {
      const what = v.kinds && v.kinds.length ? ` (${v.kinds.join(', ')})` : '';
      throw new WardenError(guardCodeFor(v), `request refused by the ${v.detector} detector${what}`);
    }
  }
}

/** Verdicts as the `detectors` field of an audit record: scores and kinds, never matched text. */
export function verdictsForAudit(verdicts: readonly Verdict[]): Record<string, { action: string; score?: number; kinds?: string[]; source?: string }> {
  const out: Record<string, { action: string; score?: number; kinds?: string[]; source?: string }> = {};
  for (const v of verdicts) {
    out[v.detector] = {
      action: v.action,
      ...(v.score === undefined ? {} : { score: Math.round(v.score * 1000) / 1000 }),
      ...(v.kinds ? { kinds: v.kinds } : {}),
      ...(v.source ? { source: v.source } : {}),
    };
  }
  return out;
}

const label = z.union([z.string().min(1).max(256), z.number().int().min(-1e9).max(1e9)]);

/**
 * Body of POST /v1/feedback: the prediction (the gateway's request id of the answer) and the label
 * that turned out right. `predicted` is needed only when the gateway could not read the label from
 * the answer; otherwise, if given, it must match the one read.
 */
export const feedbackSchema = z.strictObject({
  model: z.string().min(1).max(256),
  requestId: z.string().min(1).max(128),
  predicted: label.optional(),
  actual: label,
});

export type Feedback = z.infer<typeof feedbackSchema>;

export function parseFeedback(body: unknown): Feedback {
  const r = feedbackSchema.safeParse(body);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new WardenError('WARDEN_DETECT_FEEDBACK_INVALID', `${issue.path.join('.') || 'body'}: ${issue.message}`);
  }
  return r.data;
}
