export { type AuditRecord, canonicalJson } from './AuditRecord.js';
export { type AuditLog } from './AuditLog.js';
export { JsonlAuditLog } from './JsonlAuditLog.js';
export { openAuditLog, type OpenAuditLogOptions } from './openAuditLog.js';
