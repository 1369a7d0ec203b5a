export { readAuditRecords } from '../../src/audit/index.js';
