/**
 * The longest model name a request may use, counted as JavaScript counts string length (UTF-16
 * code units: a character outside the BMP counts twice). Key scopes are checked against the same
 * rule, so a key can be scoped to exactly the names requests can carry.
 */
export const MAX_MODEL_NAME_LENGTH = 128;

/** Half a UTF-16 character: not text (Cedar cannot take it, so a policy could never name it). */
export const LONE_SURROGATE = /\p{Cs}/u;

/** Whether a request may name this model (the OpenAI body's `model`, the `/v1/models/{id}` lookup). */
export function isRequestModelName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_MODEL_NAME_LENGTH && !LONE_SURROGATE.test(name);
}
