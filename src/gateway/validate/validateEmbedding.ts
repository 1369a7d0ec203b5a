import { checkFields, choices, int, oneOf, type FieldCheck, type ValidationLimits, textOrTokens } from './checks.js';
import { modelField, shortString } from './openaiCommonFields.js';

const ENCODING = choices(['float', 'base64']);

export const embeddingFields: ReadonlyMap<string, FieldCheck> = new Map<string, FieldCheck>([
  ['model', modelField],
  ['input', (v, limits) => textOrTokens('input', v, limits, false)],
  ['encoding_format', (v) => oneOf(v, ENCODING.set, ENCODING.listed)],
  ['dimensions', (v) => int(v, 1, 65_536)],
  ['user', shortString],
]);
const required = ['model', 'input'];

/** POST /v1/embeddings body. */
export function validateEmbedding(body: Record<string, unknown>, limits: ValidationLimits): void {
  checkFields(body, embeddingFields, required, limits);
}
