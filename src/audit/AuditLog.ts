import type { AuditRecord } from './AuditRecord.js';
import type { AuditEntry, AuditQuery } from './AuditQuery.js';
import type { AuditVerifyReport, CheckpointView } from './verifyAuditLog.js';

/** An RFC 9162 inclusion proof of one entry against a signed checkpoint. */
export interface InclusionProofView {
  index: number;
  /** Tree size the proof is for (the checkpoint's size). */
  size: number;
  leafHash: string;
  rootHash: string;
  /** Sibling hashes, leaf to root, hex. */
  proof: string[];
  checkpoint: CheckpointView;
  /** The entry itself (canonical record), when requested. */
  record?: AuditRecord;
}

export interface ConsistencyProofView {
  first: number;
  second: number;
  firstRoot: string;
  secondRoot: string;
  proof: string[];
}

/**
 * Where PEPs and the control plane write records. `append` resolves once the record is
 * durable; callers on the request path do not await it but must not drop denies.
 */
export interface AuditLog {
  append(record: AuditRecord): Promise<void>;
  /** Records waiting to be written (for metrics and backpressure). */
  readonly queueDepth: number;
  /** Writes everything queued and waits for durability. */
  flush(): Promise<void>;
  /** Flushes, publishes a final checkpoint and releases the storage. */
  close(): Promise<void>;

  /** Durable entries in the log (the Merkle tree size). */
  readonly size: number;
  /**
   * True from a failed write (disk full, I/O error: that batch's records were rejected) until the
   * store shows real headroom and a probe record noting the loss is durable. PEPs refuse requests
   * meanwhile rather than serve them unaudited.
   */
  readonly failingClosed: boolean;
  /** Allowed-decision records skipped by sampling since open (each skip is counted in an `audit.sampled` event). */
  readonly sampledOut: number;
  /** The C2SP verifier key (`<origin>+<hash>+<key>`) that checks this log's checkpoints. */
  readonly verifierKey: string;
  /** Latest signed checkpoint, or null before the first one. */
  latestCheckpoint(): CheckpointView | null;
  /** Flushes and publishes a checkpoint now (returns the latest one when nothing changed). */
  publishCheckpoint(): Promise<CheckpointView>;
  /** Inclusion proof of entry `index` against the latest checkpoint (published on demand if needed). */
  prove(index: number, options?: { withRecord?: boolean }): Promise<InclusionProofView>;
  /** Consistency proof between two checkpointed sizes (default second: latest checkpoint). */
  proveConsistency(first: number, second?: number): Promise<ConsistencyProofView>;
  /** Most recent matching entries, newest first. */
  query(filter: AuditQuery): Promise<AuditEntry[]>;
  /** Full recomputation and checkpoint check of what is on storage (as `warden audit verify`). */
  verify(): Promise<AuditVerifyReport>;
}
