import { closeSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { fsyncDir } from '../crypto/index.js';
import { join } from 'node:path';
import { validateRecord, type AuditRecord } from '../audit/index.js';
import type { Logger } from '../observe/index.js';

export interface AuditSpoolOptions {
  dir: string;
  /** The gateway's name: spool files are named after it, so gateways can share a directory. */
  pep: string;
  logger: Logger;
  /** Bytes of spool (and dead-letter) files this gateway may keep (default 1 GiB). */
  maxBytes?: number | undefined;
  /** A spool file is closed for appends past this size, so a replay reads a bounded file (default 16 MiB). */
  fileMaxBytes?: number | undefined;
  /** Records per batch when a spool of the pre-batch-id format is read. */
  batchSize: number;
}

export interface SpoolBatch {
  id: string;
  records: string[];
}

/** Why the control plane refused a batch, kept with its records in the dead-letter file. */
export interface Rejection {
  status: number;
  code: string | null;
}

interface SpoolFile {
  path: string;
  bytes: number;
  lastSeq: number;
}

const GIB = 1024 * 1024 * 1024;

/** Spool lines: {"batch":"<id>","record":{…}}. A batch keeps its id on disk so a replay after a lost reply is deduplicated. */
export const spoolLines = (batchId: string, records: string[]): string => records.map((json) => `{"batch":${JSON.stringify(batchId)},"record":${json}}\n`).join('');

/**
 * A remote gateway's audit records on disk while the control plane does not take them: JSON-lines
 * spool files (0600, fsync'd, named per run and first record so they replay in append order) and
 * a dead-letter file for records the control plane refused as invalid, all under one byte cap.
 */
export class AuditSpool {
  private readonly prefix: string;
  private readonly runId = `${String(Date.now()).padStart(15, '0')}-${randomBytes(4).toString('hex')}`;
  private heldBytes = 0;
  private current: SpoolFile | null = null;
  private readonly reportedUnreadable = new Set<string>();
  private fullReported = false;

  constructor(private readonly o: AuditSpoolOptions) {
    this.prefix = o.pep.replace(/[^A-Za-z0-9._-]/g, '_');
    mkdirSync(o.dir, { recursive: true, mode: 0o700 });
    for (const f of [...this.files(), this.rejectedFile]) this.heldBytes += sizeOf(f);
  }

  get dir(): string {
    return this.o.dir;
  }

  /** Bytes of spool and dead-letter files held now. */
  get bytes(): number {
    return this.heldBytes;
  }

  private get maxBytes(): number {
    return this.o.maxBytes ?? GIB;
  }

  /** True when `bytes` more stay within the cap. */
  fits(bytes: number): boolean {
    return this.heldBytes + bytes <= this.maxBytes;
  }

  /** Spool files of this gateway, oldest first (files of the pre-batch-id format sort first). */
  private files(): string[] {
    const legacy = [`${this.prefix}.spool.jsonl.replaying`, `${this.prefix}.spool.jsonl`];
    const current = new RegExp(`^${this.prefix.replace(/[.]/g, '\\.')}\\.\\d{15}-[0-9a-f]{8}\\.\\d{12}\\.spool\\.jsonl$`);
    const names = readdirSync(this.o.dir);
    return [...legacy.filter((n) => names.includes(n)), ...names.filter((n) => current.test(n)).sort()].map((n) => join(this.o.dir, n));
  }

  oldestFile(): string | null {
    return this.files()[0] ?? null;
  }

  private get rejectedFile(): string {
    return join(this.o.dir, `${this.prefix}.rejected.jsonl`);
  }

  /** Appends `spoolLines` text to the newest spool file when order allows, else starts a file named after the first record. */
  append(firstSeq: number, lastSeq: number, text: string): boolean {
    const cur = this.current;
    const bytes = Buffer.byteLength(text);
    const reuse = cur && cur.lastSeq < firstSeq && cur.bytes + bytes <= (this.o.fileMaxBytes ?? 16 * 1024 * 1024);
    const path = reuse ? cur.path : join(this.o.dir, `${this.prefix}.${this.runId}.${String(firstSeq).padStart(12, '0')}.spool.jsonl`);
    if (!this.writeDurably(path, text)) return false;
    if (reuse) {
      cur.bytes += bytes;
      cur.lastSeq = lastSeq;
    } else if (!cur || lastSeq > cur.lastSeq) {
      this.current = { path, bytes, lastSeq };
    }
    return true;
  }

  /**
   * Seals `path` while it is replayed (it is deleted once read and delivered): new appends go to a
   * newer file. The returned function reopens it for appends, unless a newer file was started since.
   */
  sealForReplay(path: string): () => void {
    const sealed = this.current?.path === path ? this.current : null;
    if (sealed) this.current = null;
    return () => {
      if (sealed && !this.current) this.current = sealed;
    };
  }

  /** Parses a spool file; a line that does not parse (torn by a crash, damaged) is skipped and counted, never fatal. */
  read(path: string): SpoolBatch[] {
    const batches: SpoolBatch[] = [];
    let skipped = 0;
    let legacyId = '';
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      let id: string;
      let record: string;
      try {
        const parsed = JSON.parse(line) as { batch?: unknown; record?: unknown };
        if (typeof parsed.batch === 'string' && parsed.record && typeof parsed.record === 'object') {
          id = parsed.batch;
          record = JSON.stringify(parsed.record);
        } else {
          // A spool written before batch ids: one line per record, grouped into fresh batches.
          validateRecord(parsed as AuditRecord);
          if (!legacyId || batches.at(-1)!.records.length >= this.o.batchSize) legacyId = randomUUID();
          id = legacyId;
          record = line;
        }
      } catch {
        skipped++;
        continue;
      }
      const last = batches.at(-1);
      if (last?.id === id) last.records.push(record);
      else batches.push({ id, records: [record] });
    }
    if (skipped > 0 && !this.reportedUnreadable.has(path)) {
      this.reportedUnreadable.add(path);
      this.o.logger.error({ file: path, skipped }, 'audit spool lines that do not parse were skipped (torn by a crash or damaged)');
    }
    return batches;
  }

  /** Deletes a spool file whose records were all delivered, and gives its bytes back to the cap. */
  removeDelivered(path: string): void {
    this.heldBytes -= sizeOf(path);
    unlinkSync(path);
    this.fullReported = false;
  }

  /** Logs, once until a delivered file frees room, that records no longer fit in the spool. */
  reportFull(queued: number): void {
    if (this.fullReported) return;
    this.fullReported = true;
    this.o.logger.error({ spoolBytes: this.heldBytes, spoolMaxBytes: this.maxBytes, queued }, 'audit spool full: records wait in memory; once the queue is full too, new records are refused');
  }

  /** Keeps records the control plane refused as invalid next to the spool, for an operator; false when there is no room. */
  deadLetter(batchId: string, records: string[], rejection: Rejection): boolean {
    const file = this.rejectedFile;
    const at = JSON.stringify(new Date().toISOString());
    const lines = records.map((r) => `{"batch":${JSON.stringify(batchId)},"status":${rejection.status},"code":${JSON.stringify(rejection.code)},"rejectedAt":${at},"record":${r}}\n`).join('');
    if (!this.writeDurably(file, lines)) return false;
    this.o.logger.error({ status: rejection.status, code: rejection.code, records: records.length, file }, 'audit batch refused by the control plane as invalid: records moved to the dead-letter file');
    return true;
  }

  /** Append + fsync under the byte cap; a failed write is truncated back so no half batch stays behind. */
  private writeDurably(path: string, text: string): boolean {
    const bytes = Buffer.byteLength(text);
    if (!this.fits(bytes)) return false;
    let fd: number | null = null;
    let before = 0;
    try {
      fd = openSync(path, 'a', 0o600);
      before = fstatSync(fd).size;
      writeSync(fd, text);
      fsyncSync(fd);
      if (before === 0) fsyncDir(this.o.dir); // the new file's name is durable too
      this.heldBytes += bytes;
      return true;
    } catch (err) {
      if (fd !== null) {
        try {
          ftruncateSync(fd, before);
        } catch {
          // the torn tail is skipped on replay
        }
      }
      this.o.logger.error({ err: (err as Error).message, file: path }, 'audit spool write failed');
      return false;
    } finally {
      if (fd !== null) closeSync(fd);
    }
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
