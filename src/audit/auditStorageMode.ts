import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WardenError } from '../errors/index.js';
import { writeFileAtomic } from '../crypto/index.js';

export type AuditStorageMode = 'files' | 'database';

/**
 * `<dataDir>/audit-storage.json`: where the last writer of this data dir kept its log. The offline
 * CLI reads the log the same way the writer did only when it is told the same thing (a
 * WARDEN_DATABASE_URL set on `warden server` alone), so it needs this to refuse rather than
 * read an empty embedded log and call it clean. Holds no secret (never the database URL).
 */
export function auditStorageModePath(dataDir: string): string {
  return join(dataDir, 'audit-storage.json');
}

/** Written by the writer at open; rewritten only when the mode changes (embedded → PostgreSQL). */
export function recordAuditStorageMode(dataDir: string, mode: AuditStorageMode): void {
  if (readAuditStorageMode(dataDir) === mode) return;
  writeFileAtomic(auditStorageModePath(dataDir), JSON.stringify({ storage: mode }) + '\n', 0o644);
}

/** null: no writer recorded one (a data dir from before this file, or none opened yet). */
export function readAuditStorageMode(dataDir: string): AuditStorageMode | null {
  const path = auditStorageModePath(dataDir);
  if (!existsSync(path)) return null;
  let storage: unknown;
  try {
    storage = (JSON.parse(readFileSync(path, 'utf8')) as { storage?: unknown }).storage;
  } catch (cause) {
    throw new WardenError('WARDEN_AUDIT_STORAGE_MISMATCH', `${path} is damaged: it should say where the audit log is ("files" or "database")`, { cause });
  }
  if (storage !== 'files' && storage !== 'database') throw new WardenError('WARDEN_AUDIT_STORAGE_MISMATCH', `${path} names an unknown audit storage`);
  return storage;
}

/**
 * The offline reader must look where the writer wrote: refuses (instead of reading an empty
 * embedded log, or another log) when the data dir's record and the database URL disagree.
 */
export function checkAuditStorageMode(dataDir: string, databaseUrlSet: boolean): void {
  const mode = readAuditStorageMode(dataDir);
  if (mode === 'database' && !databaseUrlSet) {
    throw new WardenError(
      'WARDEN_AUDIT_STORAGE_MISMATCH',
      `the audit log of ${dataDir} is in PostgreSQL (the control plane ran with WARDEN_DATABASE_URL): set WARDEN_DATABASE_URL (or database.url) to that database to read it`,
    );
  }
  if (mode === 'files' && databaseUrlSet) {
    throw new WardenError(
      'WARDEN_AUDIT_STORAGE_MISMATCH',
      `the audit log of ${dataDir} is embedded (${join(dataDir, 'audit')}), not in the database WARDEN_DATABASE_URL names: unset WARDEN_DATABASE_URL (and database.url) to read it`,
    );
  }
}
