import { WardenError } from '../errors/index.js';
import type { AuditLog, ConsistencyProofView, InclusionProofView } from './AuditLog.js';
import type { AuditRecord } from './AuditRecord.js';
import type { AuditEntry, AuditQuery } from './AuditQuery.js';
import { MerkleTree, leafHash, leafHashOfPrefixed, verifyConsistencyProof } from './merkle/index.js';
import { openCheckpoint, parseVerifierKey, signCheckpoint, type NoteSigner, type SignedCheckpoint } from './checkpoint/index.js';
import type { AuditStore, PreparedEntry } from './storage/index.js';
import { prepareEntry, validateRecord } from './prepareEntry.js';
import { queryAuditLog } from './queryAuditLog.js';
import { provenRecord } from './provenRecord.js';
import { toCheckpointView, verifyAuditLog, type AuditVerifyReport, type CheckpointView } from './verifyAuditLog.js';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { AllowedSampler } from './AllowedSampler.js';
import { checkpointEntry, type AuditForwarder } from './sinks/index.js';
import { LostRecords } from './LostRecords.js';

export interface MerkleAuditLogOptions {
  store: AuditStore;
  signer: NoteSigner;
  origin: string;
  batchSize: number;
  flushIntervalMs: number;
  queueLimit: number;
  checkpointIntervalMs: number;
  maxRecordBytes: number;
  sampleAllowedRate: number;
  sampleActions: readonly string[];
  /** After a failed write, how often a probe record is tried until one is durable (default 1000 ms). */
  recoveryProbeMs?: number;
  /** Free bytes the store must show (with 4 failed batches' worth) before a probe may end failing closed. Default 16 MiB. */
  recoveryMinFreeBytes?: number;
  /** Keep only subtrees of ≥ 2^treeMinLevel entries in memory (see MerkleTree). Default 0. */
  treeMinLevel?: number;
  /** Live SIEM forwarding of durable entries (closed with the log). */
  forwarder?: AuditForwarder;
  /** Called when a failed write makes the log fail closed (once until it recovers): the operator must hear why. */
  onFailClosed?: (err: unknown) => void;
  now?: () => Date;
}

/** A queued record; resolve/reject are null for one appended detached (nobody awaits it). */
interface Pending {
  record: AuditRecord;
  resolve: (() => void) | null;
  reject: ((e: unknown) => void) | null;
}

const RESOLVED: Promise<void> = Promise.resolve();
const ignore = (): void => undefined;

/** Free space a store must show before the log leaves fail-closed (see LostRecords.headroom). */
const DEFAULT_RECOVERY_MIN_FREE = 16 * 1024 * 1024;
/** Upper bound on one group commit (bigger commits amortise slow fsyncs; memory stays bounded). */
const MAX_GROUP_COMMIT = 65_536;
/** Records serialised and hashed between two yields to the event loop (keeps request latency flat). */
const PREPARE_SLICE = 32;

/**
 * The tamper-evident audit log: records queue in memory (bounded, with backpressure), are
 * written in group commits, hashed into an RFC 9162 Merkle tree, and the tree head is
 * signed as a C2SP checkpoint periodically, on demand and on close. A record's promise
 * resolves only once its batch is durable.
 */
export class MerkleAuditLog implements AuditLog {
  private readonly tree: MerkleTree;
  private queue: Pending[] = [];
  private spaceWaiters: (() => void)[] = [];
  private draining: Promise<void> | null = null;
  private flushTimer: NodeJS.Timeout | null = null;
  private checkpointTimer: NodeJS.Timeout | null = null;
  /** Serialises every storage write (batches and checkpoints). */
  private writes: Promise<unknown> = Promise.resolve();
  private latest: SignedCheckpoint | null = null;
  private closing = false;
  private closed = false;
  private readonly sampler: AllowedSampler;
  private readonly now: () => Date;
  /** Entries each forward destination had to drop, to be recorded with the next batch. */
  private forwardDrops = new Map<string, number>();
  /** Records rejected by failed writes and not yet noted in the log; failing closed while any. */
  private readonly lost = new LostRecords();
  private probeTimer: NodeJS.Timeout | null = null;
  /** Records ever queued, and those whose batch write has ended (durable or failed): flush() targets. */
  private enqueued = 0;
  private settled = 0;
  private progressWaiters: (() => void)[] = [];

  private constructor(private readonly options: MerkleAuditLogOptions) {
    this.tree = new MerkleTree({ minLevel: options.treeMinLevel ?? 0 });
    this.sampler = new AllowedSampler(options.sampleAllowedRate, options.sampleActions);
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Rebuilds the tree from storage and refuses to write on top of a log that no longer
   * matches its own hashes or its latest signed checkpoint (WARDEN_AUDIT_TAMPERED):
   * appending would otherwise get tampered entries covered by fresh signatures.
   */
  static async open(options: MerkleAuditLogOptions): Promise<MerkleAuditLog> {
    const log = new MerkleAuditLog(options);
    const { store } = options;
    const notes = await store.checkpointNotes();
    let cp: SignedCheckpoint | null = null;
    if (notes.length > 0) {
      try {
        cp = openCheckpoint(notes[notes.length - 1]!, [parseVerifierKey(options.signer.verifierKey)], options.origin);
      } catch (cause) {
        // Replicas sharing a database sign one log: a checkpoint by another key is tampering or a
        // replica set up with its own key (the message names both).
        throw new WardenError('WARDEN_AUDIT_TAMPERED', `the latest audit checkpoint does not verify with this log key and origin${options.store.kind === 'database' ? ' (control-plane replicas sharing one database must all use the same checkpoint key, keys/audit-checkpoint.key, and audit.origin)' : ''}`, { cause });
      }
    }
    // Leaves of the group holding the checkpoint's last entry, to check its root below.
    const G = log.tree.groupSize;
    const cpGroup = cp && cp.size > 0 ? Math.floor((cp.size - 1) / G) : -1;
    const cpLeaves: Buffer[] = [];
    for await (const batch of store.batches()) {
      for (const raw of batch) {
        const p = raw.position;
        if (raw.malformed || raw.index !== p || raw.storedHash === null) {
          throw new WardenError('WARDEN_AUDIT_TAMPERED', `audit entry ${p} is damaged, missing or out of order; run \`warden audit verify\``);
        }
        const h = raw.leafInput ? leafHashOfPrefixed(raw.leafInput) : leafHash(raw.entry);
        if (!h.equals(raw.storedHash)) throw new WardenError('WARDEN_AUDIT_TAMPERED', `audit entry ${p} does not match its hash; run \`warden audit verify\``);
        if (Math.floor(p / G) === cpGroup) cpLeaves.push(h);
        log.tree.append(h);
      }
    }
    if (cp) {
      const groups = new Map<number, Buffer[]>();
      if (log.tree.groupsForRoot(cp.size).length > 0) groups.set(cpGroup, cpLeaves);
      if (cp.size > log.tree.size || !log.tree.withGroups(groups, () => log.tree.root(cp.size)).equals(cp.rootHash)) {
        throw new WardenError('WARDEN_AUDIT_TAMPERED', `the stored log does not match checkpoint size ${cp.size}; run \`warden audit verify\``);
      }
      log.latest = cp;
    } else if (log.tree.size > 0) {
      throw new WardenError('WARDEN_AUDIT_TAMPERED', 'the audit log has entries but its checkpoints are gone; run `warden audit verify`');
    }
    // A checkpoint exists from the first open on, so deleting all of them is detectable.
    if (!log.latest || log.latest.size !== log.tree.size) await log.publishCheckpoint();
    return log;
  }

  get queueDepth(): number {
    return this.queue.length;
  }

  /** The queue depth from which appends wait for space (queueLimit). */
  get appendWaitsAt(): number {
    return this.options.queueLimit;
  }

  get size(): number {
    return this.tree.size;
  }

  get failingClosed(): boolean {
    return this.lost.total > 0;
  }

  get sampledOut(): number {
    return this.sampler.totalSkipped;
  }

  /** Live forwarding state per destination (for status and metrics). */
  get forwardStatus(): AuditForwarder['status'] {
    return this.options.forwarder?.status ?? [];
  }

  /** Called by the forwarder; the count is written as an `audit.forward.dropped` event. */
  noteForwardDropped(sink: string, dropped: number): void {
    this.forwardDrops.set(sink, (this.forwardDrops.get(sink) ?? 0) + dropped);
  }

  get verifierKey(): string {
    return this.options.signer.verifierKey;
  }

  // Not async: a record queued at once costs one promise (an async function adds two more).
  append(record: AuditRecord): Promise<void> {
    try {
      if (this.closing) throw new WardenError('WARDEN_AUDIT_CLOSED', 'the audit log is closed');
      validateRecord(record);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.sampler.skip(record)) return RESOLVED;
    if (this.queue.length >= this.options.queueLimit) return this.appendWhenSpace(record);
    return new Promise<void>((resolve, reject) => this.enqueue({ record, resolve, reject }));
  }

  /**
   * append() for a caller that would not await it nor look at its failure (the gateway, below its
   * backpressure depth): no promise per record. Failures are dropped as an unawaited append's
   * rejection would be; a failed write still makes the log fail closed.
   */
  appendDetached(record: AuditRecord): void {
    if (this.closing || this.queue.length >= this.options.queueLimit) {
      this.append(record).catch(ignore);
      return;
    }
    try {
      validateRecord(record);
    } catch {
      return;
    }
    if (!this.sampler.skip(record)) this.enqueue({ record, resolve: null, reject: null });
  }

  private async appendWhenSpace(record: AuditRecord): Promise<void> {
    while (this.queue.length >= this.options.queueLimit) {
      await new Promise<void>((r) => this.spaceWaiters.push(r));
      if (this.closed) throw new WardenError('WARDEN_AUDIT_CLOSED', 'the audit log is closed');
    }
    return new Promise<void>((resolve, reject) => this.enqueue({ record, resolve, reject }));
  }

  private enqueue(p: Pending): void {
    this.enqueued++;
    this.queue.push(p);
    if (this.queue.length >= this.options.batchSize) void this.drain();
    else this.flushTimer ??= setTimeout(() => void this.drain(), this.options.flushIntervalMs);
  }

  /** Waits for the records queued when called (not for later ones: under steady load the queue never empties). */
  async flush(): Promise<void> {
    const target = this.enqueued;
    while (this.settled < target) {
      if (!this.draining) void this.drain();
      await new Promise<void>((r) => this.progressWaiters.push(r));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    try {
      await this.flush();
      await this.publishCheckpoint();
    } finally {
      this.closed = true;
      if (this.flushTimer) clearTimeout(this.flushTimer);
      if (this.checkpointTimer) clearTimeout(this.checkpointTimer);
      if (this.probeTimer) clearTimeout(this.probeTimer);
      this.flushTimer = this.checkpointTimer = this.probeTimer = null;
      for (const w of this.spaceWaiters.splice(0)) w();
      await this.writes.catch(() => undefined);
      await this.options.forwarder?.close();
      await this.options.store.close();
    }
  }

  latestCheckpoint(): CheckpointView | null {
    return this.latest ? toCheckpointView(this.latest) : null;
  }

  async publishCheckpoint(): Promise<CheckpointView> {
    if (this.closed) throw new WardenError('WARDEN_AUDIT_CLOSED', 'the audit log is closed');
    await this.flush();
    const cp = await this.serial(async () => {
      const size = this.tree.size;
      if (this.latest && this.latest.size === size) return this.latest;
      const root = this.tree.root(size);
      // Never sign a head that does not extend the previous one (RFC 9162 consistency).
      if (this.latest) {
        const prev = this.latest;
        const groups = await this.loadGroups(() => this.tree.groupsForConsistency(prev.size, size));
        const proof = this.tree.withGroups(groups, () => this.tree.consistencyProof(prev.size, size));
        if (!verifyConsistencyProof(prev.size, size, prev.rootHash, root, proof)) {
          throw new WardenError('WARDEN_AUDIT_CHECKPOINT_INCONSISTENT', 'the new tree head is not consistent with the previous checkpoint');
        }
      }
      const signed = signCheckpoint({ origin: this.options.origin, size, rootHash: root }, this.options.signer);
      await this.options.store.appendCheckpoint(signed);
      this.latest = signed;
      // An off-box copy of every signed head: what `audit verify --checkpoint` needs against rollback.
      this.options.forwarder?.enqueue([checkpointEntry(signed, this.now())]);
      // Keep the leaves the next consistency check will need, instead of reading them back.
      if (size > 0) {
        this.tree.retainGroupOf(size - 1);
        this.tree.releaseGroupsExcept(size - 1);
      }
      return signed;
    });
    return toCheckpointView(cp);
  }

  async prove(index: number, options: { withRecord?: boolean } = {}): Promise<InclusionProofView> {
    if (!Number.isSafeInteger(index) || index < 0) throw new WardenError('WARDEN_INPUT_INVALID', 'index must be a non-negative integer');
    if (index >= this.tree.size) await this.flush();
    if (index >= this.tree.size) throw new WardenError('WARDEN_AUDIT_INDEX_OUT_OF_RANGE', `index ${index} is not below the log size ${this.tree.size}`);
    if (!this.latest || index >= this.latest.size) await this.publishCheckpoint();
    const cp = this.latest!;
    const groups = await this.loadGroups(() => this.tree.groupsForInclusion(index, cp.size));
    const view: InclusionProofView = this.tree.withGroups(groups, () => ({
      index,
      size: cp.size,
      leafHash: this.tree.leafHash(index).toString('hex'),
      rootHash: cp.rootHash.toString('hex'),
      proof: this.tree.inclusionProof(index, cp.size).map((h) => h.toString('hex')),
      checkpoint: toCheckpointView(cp),
    }));
    if (options.withRecord) view.record = await provenRecord(this.options.store, index, Buffer.from(view.leafHash, 'hex'));
    return view;
  }

  async proveConsistency(first: number, second?: number): Promise<ConsistencyProofView> {
    const to = second ?? this.latest?.size ?? this.tree.size;
    if (!Number.isSafeInteger(first) || first < 0 || !Number.isSafeInteger(to) || first > to || to > this.tree.size) {
      throw new WardenError('WARDEN_AUDIT_INDEX_OUT_OF_RANGE', `sizes must satisfy 0 <= first <= second <= ${this.tree.size}`);
    }
    const groups = await this.loadGroups(() => [...this.tree.groupsForConsistency(first, to), ...this.tree.groupsForRoot(first), ...this.tree.groupsForRoot(to)]);
    return this.tree.withGroups(groups, () => ({
      first,
      second: to,
      firstRoot: this.tree.root(first).toString('hex'),
      secondRoot: this.tree.root(to).toString('hex'),
      proof: this.tree.consistencyProof(first, to).map((h) => h.toString('hex')),
    }));
  }

  /**
   * Reads back (from storage) the leaf groups a proof needs, recomputing each leaf hash from
   * the stored entry bytes; the tree checks every group against its in-memory hash. Asks
   * again after reading because a group that was the newest may have completed meanwhile.
   */
  private async loadGroups(needed: () => number[]): Promise<Map<number, Buffer[]>> {
    const loaded = new Map<number, Buffer[]>();
    for (;;) {
      const missing = [...new Set(needed())].filter((g) => !loaded.has(g));
      if (missing.length === 0) return loaded;
      for (const g of missing) loaded.set(g, await this.readGroup(g));
    }
  }

  private async readGroup(g: number): Promise<Buffer[]> {
    const G = this.tree.groupSize;
    const first = g * G;
    const out: Buffer[] = [];
    for await (const batch of this.options.store.batches(first)) {
      for (const raw of batch) {
        if (out.length === G) break;
        if (raw.malformed || raw.index !== first + out.length) {
          throw new WardenError('WARDEN_AUDIT_TAMPERED', `audit entry ${first + out.length} is damaged, missing or out of order; run \`warden audit verify\``);
        }
        out.push(raw.leafInput ? leafHashOfPrefixed(raw.leafInput) : leafHash(raw.entry));
      }
      if (out.length === G) break;
    }
    if (out.length !== G) throw new WardenError('WARDEN_AUDIT_TAMPERED', `audit entries ${first + out.length}.. are missing from storage`);
    return out;
  }

  async query(filter: AuditQuery): Promise<AuditEntry[]> {
    const { store } = this.options;
    return queryAuditLog(store, filter, { size: store.sharedWithOtherWriters ? undefined : this.tree.size });
  }

  async verify(): Promise<AuditVerifyReport> {
    await this.flush();
    return verifyAuditLog(this.options.store, { verifiers: [parseVerifierKey(this.verifierKey)], origin: this.options.origin });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.writes.then(fn, fn);
    this.writes = run.catch(() => undefined);
    return run;
  }

  private drain(): Promise<void> {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    if (this.draining) return this.draining;
    if (this.queue.length === 0) return Promise.resolve();
    this.draining = (async () => {
      try {
        // The first batch is whatever is queued (timer or flush()); after it, only full batches go
        // straight on. What arrived during a write waits for the flush timer and joins later
        // arrivals: under steady load one write + fdatasync per flushIntervalMs, not one per
        // handful of records.
        do {
          const batch = this.queue.length <= MAX_GROUP_COMMIT ? this.queue : this.queue.slice(0, MAX_GROUP_COMMIT);
          this.queue = batch === this.queue ? [] : this.queue.slice(MAX_GROUP_COMMIT);
          for (const w of this.spaceWaiters.splice(0)) w();
          try {
            await this.serial(() => this.writeBatch(batch));
          } finally {
            this.settled += batch.length;
            for (const w of this.progressWaiters.splice(0)) w();
          }
        } while (this.queue.length >= this.options.batchSize);
      } finally {
        this.draining = null;
        for (const w of this.progressWaiters.splice(0)) w();
        if (this.queue.length > 0 && !this.closed) this.flushTimer ??= setTimeout(() => void this.drain(), this.options.flushIntervalMs);
      }
    })();
    return this.draining;
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    const sampled = this.sampler.takeReport(this.now(), this.options.checkpointIntervalMs);
    const prepared: PreparedEntry[] = [];
    const accepted: Pending[] = [];
    let index = this.tree.size;
    if (sampled) prepared.push(prepareEntry(sampled, index++, this.options.maxRecordBytes));
    const drops = this.forwardDrops;
    if (drops.size > 0) {
      this.forwardDrops = new Map();
      for (const [sink, dropped] of drops) {
        prepared.push(prepareEntry({ ts: this.now().toISOString(), kind: 'event', action: 'audit.forward.dropped', resource: `AuditSink::"${sink}"`, details: { dropped } }, index++, this.options.maxRecordBytes));
      }
    }
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      try {
        prepared.push(prepareEntry(p.record, index, this.options.maxRecordBytes));
        accepted.push(p);
        index++;
      } catch (err) {
        p.reject?.(err);
      }
      if (i % PREPARE_SLICE === PREPARE_SLICE - 1) await yieldToEventLoop();
    }
    let others: Buffer[] | void;
    try {
      others = await this.options.store.appendEntries(prepared);
    } catch (err) {
      if (sampled) this.sampler.restore(sampled);
      for (const [sink, n] of drops) this.noteForwardDropped(sink, n);
      for (const p of accepted) p.reject?.(err);
      const wasOpen = this.lost.total === 0;
      this.lost.add(accepted.map((p) => p.record), prepared, this.now());
      if (wasOpen && this.lost.total > 0) this.options.onFailClosed?.(err);
      this.scheduleProbe();
      return;
    }
    // Other writers' entries (replicas sharing a database) come first: the batch was renumbered after them.
    for (const h of others ?? []) this.tree.append(h);
    for (const e of prepared) this.tree.append(e.leafHash);
    for (const p of accepted) p.resolve?.();
    // Forward what is now durable (redacted form, as stored); parsing only when forwarding is on.
    this.options.forwarder?.enqueue(prepared.map((e) => ({ index: e.index, leafHash: e.leafHash.toString('hex'), record: JSON.parse(e.json) as AuditRecord })));
    this.scheduleCheckpoint();
  }

  /**
   * After records were lost to a failed write: fail closed, and every recoveryProbeMs, once the
   * store shows real headroom, try a probe record noting how many were lost since when. Once it is
   * durable the gap is in the log itself, and it is open again.
   */
  private scheduleProbe(): void {
    if (this.lost.total === 0 || this.probeTimer || this.closing) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = null;
      void this.probe().finally(() => this.scheduleProbe());
    }, this.options.recoveryProbeMs ?? 1000);
    this.probeTimer.unref();
  }

  private async probe(): Promise<void> {
    const noted = this.lost.snapshot();
    if (!(await this.lost.headroom(this.options.store, this.options.recoveryMinFreeBytes ?? DEFAULT_RECOVERY_MIN_FREE))) return;
    try {
      await this.append(this.lost.event(noted, this.now()));
    } catch {
      return; // still failing (or closing): the next probe tries again
    }
    this.lost.settle(noted);
  }

  private scheduleCheckpoint(): void {
    if (this.checkpointTimer || this.closing) return;
    this.checkpointTimer = setTimeout(() => {
      this.checkpointTimer = null;
      if (this.closing) return;
      this.publishCheckpoint().catch(() => {
        /* retried on the next batch; verify reports the gap */
      });
    }, this.options.checkpointIntervalMs);
    this.checkpointTimer.unref();
  }
}
