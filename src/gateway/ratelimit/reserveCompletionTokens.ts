import { tokenCount } from './usageTotal.js';

/** `gateway.rateLimit` settings for completion reservations. */
export interface CompletionReserveConfig {
  /** Reserved for a call that sets no `max_completion_tokens` / `max_tokens`. */
  defaultTokens: number;
  /** Most reserved for one call, whatever its max_tokens × choices. */
  maxTokens: number;
}

export const DEFAULT_COMPLETION_RESERVE: CompletionReserveConfig = { defaultTokens: 1024, maxTokens: 32_768 };

/** Completion tokens of one call, as far as they are known before it. */
export interface CompletionReservation {
  /** Charged at admission on top of the prompt estimate; what the call does not use is refunded after it. */
  reserved: number;
  /** Most completion tokens the call may produce (the client's limit, else `maxTokens`), × choices. */
  most: number;
}

/**
 * Completion tokens to reserve before a chat or completions call, so that calls in flight
 * together cannot take a tokens/min budget far past its burst (each would otherwise be charged
 * its prompt only until it ended): `(max_completion_tokens ?? max_tokens ?? defaultTokens) ×
 * max(n, best_of)`, at most `maxTokens`. The body is not validated yet (the validate stage runs
 * later): a field that is not a finite number ≥ 0 counts as absent.
 */
export function reserveCompletionTokens(body: Record<string, unknown>, config: CompletionReserveConfig): CompletionReservation {
  const requested = count(body.max_completion_tokens) ?? count(body.max_tokens);
  const choices = Math.max(1, count(body.n) ?? 1, count(body.best_of) ?? 1);
  return {
    reserved: Math.min((requested ?? config.defaultTokens) * choices, config.maxTokens),
    most: (requested ?? config.maxTokens) * choices,
  };
}

function count(v: unknown): number | null {
  const n = tokenCount(v);
  return n === null ? null : Math.floor(n);
}
