export { WardenError, isWardenError, toWardenError } from './WardenError.js';
export { errorCodes, type ErrorCode, type ErrorCodeInfo } from './codes.js';
export { renderErrorsDoc } from './renderErrorsDoc.js';
