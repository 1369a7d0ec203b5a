import type { ErrorCode } from '../errors/index.js';
import { WardenError } from '../errors/index.js';
import { MerkleTree, leafHash, leafHashOfPrefixed, verifyConsistencyProof } from './merkle/index.js';
import { openCheckpoint, type NoteVerifier, type SignedCheckpoint } from './checkpoint/index.js';
import type { AuditReader } from './storage/index.js';

export interface AuditVerifyError {
  code: ErrorCode;
  message: string;
  /** First entry index the problem affects (when it can be named). */
  index?: number;
  /** Position of the checkpoint in publication order (checkpoint problems). */
  checkpoint?: number;
}

export interface CheckpointView {
  origin: string;
  size: number;
  /** Hex SHA-256 root (the note itself carries base64). */
  rootHash: string;
  note: string;
}

/** `warden audit verify --format json` and GET /audit/verify (DESIGN.md contract + details). */
export interface AuditVerifyReport {
  ok: boolean;
  size: number;
  rootHash: string;
  /** Latest checkpoint that verified, or null. */
  checkpoint: CheckpointView | null;
  errors: AuditVerifyError[];
  /** Smallest index named by any error, or null. */
  firstBadIndex: number | null;
  checkpoints: number;
  /** Entries appended after the latest valid checkpoint (covered by the next one). */
  uncheckpointed: number;
}

export interface VerifyAuditLogOptions {
  verifiers: readonly NoteVerifier[];
  /** Expected checkpoint origin (default: whatever the first valid checkpoint says). */
  origin?: string;
  /** Keep at most this many errors in the report (all are counted in ok/firstBadIndex). */
  maxErrors?: number;
  /** In-memory tree granularity (see MerkleTree); default 8: ~0.25 byte per entry. */
  treeMinLevel?: number;
  /**
   * Signed checkpoint notes saved off the box earlier (`--checkpoint`): the log must still be an
   * extension of each. The log alone cannot show it was cut back to an older signed head, or
   * replaced by a log re-signed with a stolen key; a head kept elsewhere can.
   */
  pinned?: readonly string[];
  /** The newest valid checkpoint must cover at least this many entries (`--min-size`). */
  minSize?: number;
}

export function toCheckpointView(cp: SignedCheckpoint): CheckpointView {
  return { origin: cp.origin, size: cp.size, rootHash: cp.rootHash.toString('hex'), note: cp.note };
}

/**
 * Recomputes the whole tree from the stored entries (never trusting stored hashes), then
 * checks every checkpoint: signature, origin, that its root is the recomputed root at its
 * size, and an RFC 9162 consistency proof from the previous checkpoint.
 */
export async function verifyAuditLog(reader: AuditReader, options: VerifyAuditLogOptions): Promise<AuditVerifyReport> {
  const maxErrors = options.maxErrors ?? 50;
  const errors: AuditVerifyError[] = [];
  let firstBadIndex: number | null = null;
  let failed = false;
  const report = (e: AuditVerifyError): void => {
    failed = true;
    if (e.index !== undefined && (firstBadIndex === null || e.index < firstBadIndex)) firstBadIndex = e.index;
    if (errors.length < maxErrors) errors.push(e);
  };

  // Checkpoints first: each one read now covers entries already on storage, so a writer
  // appending during the verify cannot make a fresh checkpoint look like a truncation.
  const rows = reader.checkpointRows ? await reader.checkpointRows() : (await reader.checkpointNotes()).map((note) => ({ note, size: undefined }));
  const notes = rows.map((r) => r.note);
  let origin = options.origin;
  const opened: (SignedCheckpoint | null)[] = rows.map(({ note, size }, k) => {
    try {
      const cp = openCheckpoint(note, options.verifiers, origin);
      origin ??= cp.origin;
      // Writers decide from the stored size whether a checkpoint is new: a raised one stops them storing any.
      if (size !== undefined && size !== cp.size) {
        report({ code: 'WARDEN_AUDIT_CHECKPOINT_INVALID', checkpoint: k, message: `checkpoint ${k}: its stored size ${size} differs from the signed size ${cp.size} (edited)` });
      }
      return cp;
    } catch (err) {
      const e = err instanceof WardenError ? err : new WardenError('WARDEN_AUDIT_CHECKPOINT_INVALID', String(err));
      report({ code: 'WARDEN_AUDIT_CHECKPOINT_INVALID', checkpoint: k, message: `checkpoint ${k}: ${e.message}` });
      return null;
    }
  });

  // Bounded memory for any log size: only subtrees of >= 2^8 leaves stay in memory. Roots are
  // taken as the stream passes each checkpointed size (that size's group is still the newest),
  // with a consistency proof from the previous checkpointed size, whose group is retained.
  const tree = new MerkleTree({ minLevel: options.treeMinLevel ?? 8 });
  const pins = (options.pinned ?? []).map((note, k) => {
    try {
      return openCheckpoint(note, options.verifiers, origin);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      report({ code: 'WARDEN_AUDIT_CHECKPOINT_INVALID', message: `pinned checkpoint ${k} (--checkpoint) does not verify with the verifier key and origin: ${message}` });
      return null;
    }
  });
  const checkpointSizes = new Set(opened.filter((c): c is SignedCheckpoint => c !== null).map((c) => c.size));
  const sizes = [...new Set([...opened, ...pins].filter((c): c is SignedCheckpoint => c !== null).map((c) => c.size))].sort((a, b) => a - b);
  const roots = new Map<number, Buffer>();
  const proofs = new Map<string, Buffer[]>();
  let nextSize = 0;
  let lastSize: number | null = null;
  const atCheckpointSizes = (): void => {
    while (nextSize < sizes.length && sizes[nextSize] === tree.size) {
      const s = sizes[nextSize++]!;
      roots.set(s, tree.root(s));
      if (!checkpointSizes.has(s)) continue; // a pinned head only: checked by its root
      if (lastSize !== null) proofs.set(`${lastSize}:${s}`, tree.consistencyProof(lastSize, s));
      lastSize = s;
      if (s > 0) {
        tree.retainGroupOf(s - 1);
        tree.releaseGroupsExcept(s - 1);
      }
    }
  };
  atCheckpointSizes();
  let entryErrorReported = false;
  for await (const batch of reader.batches(0, { checkDerived: true })) {
    for (const raw of batch) {
      const p = raw.position;
      const recomputed = raw.leafInput ? leafHashOfPrefixed(raw.leafInput) : leafHash(raw.entry);
      tree.append(recomputed);
      atCheckpointSizes();
      // After the first structural error every later position is shifted: report it once.
      if (entryErrorReported) continue;
      if (raw.malformed || raw.index === null || raw.storedHash === null) {
        report({ code: 'WARDEN_AUDIT_ENTRY_MALFORMED', index: p, message: `entry ${p} is damaged: ${raw.malformed ?? 'unparsable'}` });
        entryErrorReported = true;
      } else if (raw.index !== p) {
        const message =
          raw.index > p
            ? `entry ${p} is missing: found index ${raw.index} at position ${p} (deleted records)`
            : `entry at position ${p} claims index ${raw.index}: records were reordered or duplicated`;
        report({ code: 'WARDEN_AUDIT_ENTRY_MISSING', index: p, message });
        entryErrorReported = true;
      } else if (!recomputed.equals(raw.storedHash)) {
        // The stored hash was computed from the JSON we wrote, so a match also vouches for the JSON.
        report({ code: 'WARDEN_AUDIT_ENTRY_MODIFIED', index: p, message: `entry ${p} does not match its leaf hash (modified)` });
        entryErrorReported = true;
      } else if (raw.derivedMismatch) {
        // Positions are intact: later entries are still checked (each edited one is named).
        report({ code: 'WARDEN_AUDIT_ENTRY_MODIFIED', index: p, message: `entry ${p}: ${raw.derivedMismatch}` });
      }
    }
  }

  let prev: SignedCheckpoint | null = null;
  let latest: SignedCheckpoint | null = null;
  for (let k = 0; k < opened.length; k++) {
    const cp = opened[k];
    if (!cp) continue;
    if (prev && cp.size < prev.size) {
      report({ code: 'WARDEN_AUDIT_CHECKPOINT_INCONSISTENT', checkpoint: k, message: `checkpoint ${k} (size ${cp.size}) is smaller than checkpoint ${k - 1} (size ${prev.size})` });
      continue;
    }
    const root = roots.get(cp.size);
    if (!root) {
      report({
        code: 'WARDEN_AUDIT_TRUNCATED',
        index: tree.size,
        checkpoint: k,
        message: `checkpoint ${k} signed ${cp.size} entries but only ${tree.size} are stored: entries from ${tree.size} were removed`,
      });
      continue;
    }
    if (!root.equals(cp.rootHash)) {
      const from = prev ? prev.size : 0;
      const index = firstBadIndex !== null && firstBadIndex < cp.size ? firstBadIndex : from;
      report({ code: 'WARDEN_AUDIT_ROOT_MISMATCH', index, checkpoint: k, message: `checkpoint ${k} root differs from the recomputed root at size ${cp.size}: entries in [${from}, ${cp.size}) were changed` });
      continue;
    }
    // Both roots equal the recomputed tree's, which already implies consistency; the RFC 9162
    // proof is still checked for adjacent checkpointed sizes (the normal case).
    const proof = prev ? proofs.get(`${prev.size}:${cp.size}`) : undefined;
    if (prev && proof && !verifyConsistencyProof(prev.size, cp.size, prev.rootHash, cp.rootHash, proof)) {
      report({ code: 'WARDEN_AUDIT_CHECKPOINT_INCONSISTENT', checkpoint: k, message: `checkpoint ${k} is not consistent with checkpoint ${k - 1}` });
      continue;
    }
    prev = cp;
    latest = cp;
  }
  if (reader.indexesBelowZero) {
    const below = await reader.indexesBelowZero(10);
    if (below.total > 0) {
      report({
        code: 'WARDEN_AUDIT_ENTRY_OUT_OF_RANGE',
        message: `${below.total} stored row${below.total > 1 ? 's have indexes' : ' has index'} below 0 (${below.indexes.join(', ')}${below.total > below.indexes.length ? ', …' : ''}): outside the log (0..${tree.size - 1}), never part of its tree, added by hand; queries do not show them`,
      });
    }
  }
  // Roots at the pinned sizes were recomputed from the stored entries: equal means the pinned head
  // is a prefix of this log (a stronger check than an RFC 9162 consistency proof between the two).
  pins.forEach((pin, k) => {
    if (!pin) return;
    const root = roots.get(pin.size);
    if (!root) {
      report({
        code: 'WARDEN_AUDIT_TRUNCATED',
        index: tree.size,
        message: `pinned checkpoint ${k} (--checkpoint) signed ${pin.size} entries but only ${tree.size} are stored: the log was truncated or rolled back to an older state`,
      });
    } else if (!root.equals(pin.rootHash)) {
      report({
        code: 'WARDEN_AUDIT_CHECKPOINT_INCONSISTENT',
        index: 0,
        message: `the log is not an extension of pinned checkpoint ${k} (--checkpoint, size ${pin.size}): its first ${pin.size} entries were rewritten or the log was replaced`,
      });
    }
  });
  const covered = latest?.size ?? 0;
  if (options.minSize !== undefined && covered < options.minSize) {
    report({
      code: 'WARDEN_AUDIT_TRUNCATED',
      index: covered,
      message: `the newest valid checkpoint covers ${covered} entries, fewer than --min-size ${options.minSize}: the log was truncated or rolled back to an older state`,
    });
  }
  if (tree.size > 0 && notes.length === 0) {
    report({ code: 'WARDEN_AUDIT_NO_CHECKPOINT', index: 0, message: 'the log has entries but no signed checkpoint (checkpoints were deleted)' });
  } else if (notes.length === 0) {
    // A writer signs a checkpoint when it first opens a log, so an intact one is never this empty.
    report({
      code: 'WARDEN_AUDIT_LOG_MISSING',
      message: 'there is no audit log here: no entry and no signed checkpoint (it was deleted, or it is elsewhere: another --data-dir, or PostgreSQL via WARDEN_DATABASE_URL)',
    });
  }

  return {
    ok: !failed,
    size: tree.size,
    rootHash: tree.root().toString('hex'),
    checkpoint: latest ? toCheckpointView(latest) : null,
    errors,
    firstBadIndex,
    checkpoints: notes.length,
    uncheckpointed: tree.size - (latest?.size ?? 0),
  };
}
