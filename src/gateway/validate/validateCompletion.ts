import { checkFields, int, str, type FieldCheck, type ValidationLimits, textOrTokens } from './checks.js';
import { commonGenerationFields, maxTokens, boolean } from './openaiCommonFields.js';

export const completionFields: ReadonlyMap<string, FieldCheck> = new Map<string, FieldCheck>([
  ...commonGenerationFields,
  ['prompt', (v, limits) => textOrTokens('prompt', v, limits, true)],
  // 0 is valid here: with echo=true it returns the prompt's logprobs only.
  ['max_tokens', maxTokens(0)],
  ['logprobs', (v) => int(v, 0, 5)],
  ['echo', boolean],
  ['best_of', (v) => int(v, 1, 128)],
  ['suffix', (v, limits) => str(v, limits.maxStringLength)],
]);
const required = ['model', 'prompt'];

/** POST /v1/completions body (legacy OpenAI Completions API). */
export function validateCompletion(body: Record<string, unknown>, limits: ValidationLimits): void {
  checkFields(body, completionFields, required, limits);
}
