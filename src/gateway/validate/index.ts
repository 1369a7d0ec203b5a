export { RequestValidator } from './RequestValidator.js';
export { DEFAULT_VALIDATION_LIMITS, type ValidationLimits } from './checks.js';
export { validateChatCompletion } from './validateChatCompletion.js';
export { validateCompletion } from './validateCompletion.js';
export { validateEmbedding } from './validateEmbedding.js';
export { validateOipInfer, OIP_DATATYPES } from './validateOipInfer.js';
export { foldKey } from './foldKey.js';
export { isKnownFieldName } from './fieldNames.js';
export { modelField } from './openaiCommonFields.js';
