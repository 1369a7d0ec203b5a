export type { AuditReader, AuditStore, PreparedEntry, RawEntry } from './AuditStore.js';
export { FileAuditReader, FileAuditStore, fileAuditLayout, type FileAuditLayout, type FileAuditStoreOptions } from './FileAuditStore.js';
export { DbAuditReader, DbAuditStore } from './DbAuditStore.js';
export { formatEntryLine, parseEntryLine } from './parseEntryLine.js';
