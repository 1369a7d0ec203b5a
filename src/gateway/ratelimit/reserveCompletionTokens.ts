import { tokenCount } from './usageTotal.js';

/** `gateway.rateLimit` settings for completion reservations. */
export interface CompletionReserveConfig {
  /** Reserved for a call that sets no completion length (COMPLETION_LENGTH_FIELDS). */
  defaultTokens: number;
  /** Most reserved for one call, whatever its length × choices. */
  maxTokens: number;
}

export const DEFAULT_COMPLETION_RESERVE: CompletionReserveConfig = { defaultTokens: 1024, maxTokens: 32_768 };

/**
 * Request fields some model server takes as the completion's length: OpenAI's `max_tokens` and
 * `max_completion_tokens`, `max_output_tokens` (Responses API), llama.cpp's `n_predict` (which
 * it obeys over `max_tokens`), `max_new_tokens` (TGI, SGLang, Transformers) and vLLM's
 * `min_tokens` (a floor the server generates at least). The validator passes fields it does not
 * know, so whichever of them the server obeys, the reservation takes the largest.
 */
export const COMPLETION_LENGTH_FIELDS = ['max_tokens', 'max_completion_tokens', 'max_output_tokens', 'n_predict', 'max_new_tokens', 'min_tokens'] as const;

/**
 * Fewest completion tokens one choice may be charged up to, whatever the request says: the
 * longest output current models offer (and the validator's default max_tokens ceiling).
 */
export const COMPLETION_CEILING_TOKENS = 131_072;

/** Completion tokens of one call, as far as they are known before it. */
export interface CompletionReservation {
  /** Charged at admission on top of the prompt estimate; what the call does not use is refunded after it. */
  reserved: number;
  /**
   * Most completion tokens the call is charged, whatever its usage reports: the largest of its
   * length fields, `maxTokens` and COMPLETION_CEILING_TOKENS, × choices. A length the client
   * sets only raises it: a server may obey a field this gateway does not read.
   */
  most: number;
}

/**
 * Completion tokens to reserve before a chat or completions call, so that calls in flight
 * together cannot take a tokens/min budget far past its burst (each would otherwise be charged
 * its prompt only until it ended): the largest of COMPLETION_LENGTH_FIELDS (none: `defaultTokens`)
 * × max(n, best_of), at most `maxTokens`. Taking the largest, not the first, means
 * `{"max_tokens": 1, "n_predict": 8000}` reserves 8000, as llama.cpp generates 8000. A length
 * field present as anything but a count ≥ 0 or null (llama.cpp's `n_predict: -1` means "until the
 * context is full") reserves the most, `maxTokens`. The body is not validated yet (the validate
 * stage runs later and refuses a malformed `max_tokens`, whose reservation is then refunded).
 */
export function reserveCompletionTokens(body: Record<string, unknown>, config: CompletionReserveConfig): CompletionReservation {
  let requested: number | null = null;
  let unlimited = false;
  for (const field of COMPLETION_LENGTH_FIELDS) {
    const v = body[field];
    if (v === undefined || v === null) continue;
    const n = count(v);
    if (n === null) unlimited = true;
    else if (requested === null || n > requested) requested = n;
  }
  const choices = Math.max(1, count(body.n) ?? 1, count(body.best_of) ?? 1);
  return {
    reserved: unlimited ? config.maxTokens : Math.min((requested ?? config.defaultTokens) * choices, config.maxTokens),
    most: Math.max(requested ?? 0, config.maxTokens, COMPLETION_CEILING_TOKENS) * choices,
  };
}

function count(v: unknown): number | null {
  const n = tokenCount(v);
  return n === null ? null : Math.floor(n);
}
