import type { LoadedConfig } from '../config/index.js';
import type { AuditRecord } from './AuditRecord.js';
import type { Database } from '../store/index.js';
import { MerkleTree, leafHash, leafHashOfPrefixed } from './merkle/index.js';
import { readVerifierKeys, type NoteVerifier } from './checkpoint/index.js';
import { DbAuditReader, EMPTY_AUDIT_READER, FileAuditReader, fileAuditLayout, type AuditReader } from './storage/index.js';
import { checkAuditStorageMode } from './auditStorageMode.js';

/** Read-only access for the offline CLI: never takes the writer's lock, safe next to `warden up`. */
export interface OfflineAuditLog {
  reader: AuditReader;
  verifiers: NoteVerifier[];
  origin: string;
  close(): Promise<void>;
}

/**
 * Embedded mode reads `<dataDir>/audit`; server mode (database.url set) reads the tables.
 * `verifierKey` pins the checkpoint key (a `<name>+<hash>+<key>` string or a file); the
 * default is the copy in `<dataDir>/keys`, which an attacker with write access could swap.
 */
export async function openAuditReader(config: LoadedConfig, options: { verifierKey?: string } = {}): Promise<OfflineAuditLog> {
  checkAuditStorageMode(config.dataDir, Boolean(config.database.url));
  const verifiers = readVerifierKeys({ dataDir: config.dataDir, verifierKey: options.verifierKey });
  let db: Database | null = null;
  let reader: AuditReader;
  if (config.database.url) {
    // Loaded on demand: the embedded CLI path should not pay for the database drivers.
    const { openStore } = await import('../store/index.js');
    // Never migrates: reading must not create tables (an empty log) in a database that has none.
    db = await openStore({ databaseUrl: config.database.url, migrate: false, poolSize: 2 });
    try {
      reader = (await auditTablesExist(db)) ? new DbAuditReader(db) : EMPTY_AUDIT_READER;
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
    }
  } else {
    reader = new FileAuditReader(fileAuditLayout(config.dataDir));
  }
  return {
    reader,
    verifiers,
    origin: config.audit.origin,
    async close() {
      await reader.close();
      await db?.close();
    },
  };
}

async function auditTablesExist(db: Database): Promise<boolean> {
  const r = await db.query<{ present: boolean }>(`SELECT to_regclass('audit_entries') IS NOT NULL AND to_regclass('audit_checkpoints') IS NOT NULL AS present`);
  return r.rows[0]?.present === true;
}

/** Recomputes the tree from stored entries (leaf hashes from the entry bytes, never from storage). */
export async function rebuildTree(reader: AuditReader): Promise<MerkleTree> {
  const tree = new MerkleTree();
  for await (const batch of reader.batches()) for (const raw of batch) tree.append(raw.leafInput ? leafHashOfPrefixed(raw.leafInput) : leafHash(raw.entry));
  return tree;
}

/** Every record of an embedded log in index order (tests, runbooks); damaged lines are skipped. */
export async function readAuditRecords(dataDir: string): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const raw of new FileAuditReader(fileAuditLayout(dataDir)).entries()) {
    if (raw.malformed) continue;
    try {
      out.push(JSON.parse(raw.entry.toString('utf8')) as AuditRecord);
    } catch {
      /* verify reports it */
    }
  }
  return out;
}
