import type { SignedCheckpoint } from '../checkpoint/index.js';

/** One entry as read back from storage, before any check. */
export interface RawEntry {
  /** 0-based position in storage order (what the index should be). */
  position: number;
  /** Index the entry claims, or null when the line could not be parsed. */
  index: number | null;
  /** Stored leaf hash, or null when unparsable. */
  storedHash: Buffer | null;
  /** The canonical JSON bytes that were hashed (or the whole damaged line). */
  entry: Buffer;
  /** 0x00 ‖ entry as one contiguous view, when the reader could provide it (one-shot leaf hashing). */
  leafInput?: Buffer;
  /** Set when the stored form is damaged (not a well-formed entry line/row). */
  malformed?: string;
  /**
   * Set when what storage keeps beside the entry for lookups (a row's indexed columns, a segment
   * file's name) disagrees with the entry itself: queries trust those, so editing them could hide
   * records, and verify reports it as a modification. Rows are checked only when asked (it parses).
   */
  derivedMismatch?: string;
}

export interface ReadOptions {
  /** Check what storage derived from each entry (verify); costs a JSON parse per database row. */
  checkDerived?: boolean;
}

/** An entry ready to store: the log assigned its index and hashed it. */
export interface PreparedEntry {
  index: number;
  leafHash: Buffer;
  /** Canonical JSON of the record; its UTF-8 bytes are exactly what was hashed. */
  json: string;
  /** Indexed columns for server-mode queries (ts as given by the record, ISO-8601). */
  ts: string;
  kind: string;
  principal: string | null;
  action: string;
  decision: string | null;
}

/** Read side shared by the live log and the offline CLI (`audit verify|prove|tail|query|export`). */
export interface AuditReader {
  /** Every stored entry in storage order, from entry `from` (index = position in an intact log). */
  entries(from?: number): AsyncIterable<RawEntry>;
  /** The same, in arrays (the fast path for verify and open: one await per chunk, not per entry). */
  batches(from?: number, options?: ReadOptions): AsyncIterable<RawEntry[]>;
  /** Every checkpoint note in publication order. */
  checkpointNotes(): Promise<string[]>;
  /** The same with the size storage keeps beside each note, where it keeps one (a database column). */
  checkpointRows?(): Promise<{ note: string; size: number }[]>;
  /**
   * Stored rows whose index lies below 0 (a database keyed by index: verify reads from 0 on, so
   * they are outside the log yet a query could show them), at most `limit`, with how many in all.
   */
  indexesBelowZero?(limit: number): Promise<{ indexes: number[]; total: number }>;
  /** No entry and no checkpoint: nothing was ever written here (a writer publishes a checkpoint when it first opens). */
  isEmpty(): Promise<boolean>;
  close(): Promise<void>;
}

/** Where there is nothing to read (a database without Warden's audit tables). */
export const EMPTY_AUDIT_READER: AuditReader = {
  async *entries() {},
  async *batches() {},
  checkpointNotes: async () => [],
  isEmpty: async () => true,
  close: async () => undefined,
};

/**
 * Write side. Segment files have one writer (a lock file); a database may have several (control-plane
 * replicas), and then a batch follows whatever the others appended since this writer's last one.
 */
export interface AuditStore extends AuditReader {
  /**
   * Appends a batch; resolves once durable (per the fsync policy). On failure nothing of the batch
   * is kept. Where other writers appended meanwhile (a shared database), the batch is renumbered in
   * place to follow their entries, whose leaf hashes are returned (oldest first) so the caller's
   * tree takes them before its own.
   */
  appendEntries(batch: readonly PreparedEntry[]): Promise<Buffer[] | void>;
  appendCheckpoint(cp: SignedCheckpoint): Promise<void>;
  /**
   * Bytes the storage can still take, when it can tell (files: statfs). After a failed write the
   * log stays fail-closed until this shows real headroom; absent (a database), a durable probe suffices.
   */
  freeBytes?(): Promise<number>;
  readonly kind: 'files' | 'database';
  /** Other writers append too (replicas sharing a database): this writer's size lags theirs. */
  readonly sharedWithOtherWriters?: boolean;
}
