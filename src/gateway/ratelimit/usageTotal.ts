/**
 * Tokens a call used by the upstream's `usage`: `total_tokens`, else prompt + completion
 * (`prompt_tokens` + `completion_tokens`, or the `input_tokens` + `output_tokens` of the
 * Responses API and Anthropic shapes). Null when neither is there as finite numbers ≥ 0 (`{}`,
 * strings, negatives): such a usage is treated as missing and the completion is estimated from
 * its text, never read as "0 tokens used", which would refund the whole call.
 */
export function usageTotal(usage: unknown): number | null {
  if (typeof usage !== 'object' || usage === null) return null;
  const u = usage as Record<string, unknown>;
  const total = tokenCount(u.total_tokens);
  if (total !== null) return total;
  const prompt = tokenCount(u.prompt_tokens) ?? tokenCount(u.input_tokens);
  const completion = tokenCount(u.completion_tokens) ?? tokenCount(u.output_tokens);
  return prompt !== null && completion !== null ? prompt + completion : null;
}

/** A token count as an upstream or a client sends it: a finite number ≥ 0, else null (absent or unusable). */
export function tokenCount(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null;
}
