import { chatCompletionFields, FUNCTION_FIELDS, MESSAGE_FIELDS, PART_FIELDS, TOOL_FIELDS } from './validateChatCompletion.js';
import { completionFields } from './validateCompletion.js';
import { embeddingFields } from './validateEmbedding.js';
import { OIP_FIELDS, OIP_INPUT_FIELDS, OIP_OUTPUT_FIELDS } from './validateOipInfer.js';

const ALL: ReadonlySet<string> = new Set([
  ...chatCompletionFields.keys(),
  ...completionFields.keys(),
  ...embeddingFields.keys(),
  ...MESSAGE_FIELDS,
  ...PART_FIELDS,
  ...TOOL_FIELDS,
  ...FUNCTION_FIELDS,
  ...OIP_FIELDS,
  ...OIP_INPUT_FIELDS,
  ...OIP_OUTPUT_FIELDS,
]);

/**
 * Whether `name` is a field the request validators know (at any level). Such a name is the
 * protocol's, not client text, so an error may repeat it.
 */
export function isKnownFieldName(name: string): boolean {
  return ALL.has(name);
}
