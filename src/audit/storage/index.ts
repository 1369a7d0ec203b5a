export { EMPTY_AUDIT_READER, type AuditReader, type AuditStore, type PreparedEntry, type RawEntry, type ReadOptions } from './AuditStore.js';
export { FileAuditReader, FileAuditStore, fileAuditLayout, type FileAuditLayout, type FileAuditStoreOptions } from './FileAuditStore.js';
export { DbAuditReader, DbAuditStore } from './DbAuditStore.js';
export { formatEntryLine, parseEntryLine } from './parseEntryLine.js';
