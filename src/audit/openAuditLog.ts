import type { WardenConfig } from '../config/index.js';
import { WardenError } from '../errors/index.js';
import type { Database } from '../store/index.js';
import type { AuditLog } from './AuditLog.js';
import { loadOrCreateCheckpointSigner } from './checkpoint/index.js';
import { MerkleAuditLog } from './MerkleAuditLog.js';
import { DbAuditStore, FileAuditStore, type AuditStore } from './storage/index.js';
import { createForwardSinks, AuditForwarder } from './sinks/index.js';
import { recordAuditStorageMode } from './auditStorageMode.js';

export interface OpenAuditLogOptions {
  dataDir: string;
  audit: WardenConfig['audit'];
  /**
   * Server mode: the control plane's database. Entries go to the `audit_entries` table when
   * it is PostgreSQL (or when `storage: 'database'`); embedded PGlite keeps segment files.
   */
  db?: Database;
  storage?: 'files' | 'database';
  /** Ed25519 checkpoint key (PKCS#8 PEM); default <dataDir>/keys/audit-checkpoint.key (0600, created on first use). */
  signingKeyPath?: string;
  /** Checkpoint origin; default audit.origin. */
  origin?: string;
  /** Clock (tests). */
  now?: () => Date;
  /** Told why, when a failed write makes the log fail closed (see MerkleAuditLogOptions). */
  onFailClosed?: (err: unknown) => void;
}

/** The control plane and PEPs open their audit log through this one function. */
export async function openAuditLog(options: OpenAuditLogOptions): Promise<AuditLog> {
  const cfg = options.audit;
  const origin = options.origin ?? cfg.origin;
  const signer = loadOrCreateCheckpointSigner({ dataDir: options.dataDir, origin, keyPath: options.signingKeyPath });
  const useDb = options.storage ? options.storage === 'database' : options.db?.kind === 'postgres';
  // Before the store: a CLI run meanwhile must already know where to look.
  recordAuditStorageMode(options.dataDir, useDb ? 'database' : 'files');
  const store: AuditStore = useDb
    ? new DbAuditStore(requireDb(options.db), { multipleWriters: cfg.multipleWriters })
    : await FileAuditStore.open(options.dataDir, { fsync: cfg.fsync === 'batch', segmentMaxBytes: cfg.segmentMaxBytes });
  const sinks = cfg.forward.length ? await createForwardSinks(cfg.forward) : [];
  let log: MerkleAuditLog | null = null;
  const forwarder = sinks.length ? new AuditForwarder(sinks, { maxQueue: cfg.forwardQueueLimit, onDropped: (sink, n) => log?.noteForwardDropped(sink, n) }) : undefined;
  try {
    log = await MerkleAuditLog.open({
      store,
      signer,
      origin,
      batchSize: cfg.batchSize,
      flushIntervalMs: cfg.flushIntervalMs,
      queueLimit: cfg.queueLimit,
      checkpointIntervalMs: cfg.checkpointIntervalMs,
      maxRecordBytes: cfg.maxRecordBytes,
      sampleAllowedRate: cfg.sampleAllowedRate,
      sampleActions: cfg.sampleActions,
      treeMinLevel: cfg.treeMinLevel,
      recoveryMinFreeBytes: cfg.recoveryMinFreeBytes,
      forwarder,
      now: options.now,
      onFailClosed: options.onFailClosed,
    });
    return log;
  } catch (err) {
    await forwarder?.close(0).catch(() => undefined);
    await store.close().catch(() => undefined);
    throw err;
  }
}

function requireDb(db: Database | undefined): Database {
  if (!db) throw new WardenError('WARDEN_INTERNAL', 'openAuditLog: storage "database" needs options.db');
  return db;
}
